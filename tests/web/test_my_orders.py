"""My orders in real browsers: the server's list (GET /api/me/orders) and live changes over
/ws/me: a reserved order counts down to pay_by_ms, the shop's confirmation arrives live, an
unpaid order expires, the buyer cancels, and orders from other rooms and devices are there."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support import unique_room
from tests.web.pages import (
    DESKTOP,
    Chatter,
    HostApi,
    Shop,
    close,
    new_page,
    no_js_errors,
    open_player,
)

pytestmark = pytest.mark.timeout(120)


def order_row(page, order_id: str):
    return page.locator(f'#orderList li[data-order="{order_id}"]')


def test_a_reserved_order_counts_down_and_its_confirmation_arrives_live(browser, server):
    room = unique_room("web-reserve")
    api = HostApi(server, room)
    api.call("PUT", "", {"title": "Pay later", "pay_within_s": 300}, status=201)
    api.call("POST", "/start", status=200)
    api.product("mug", title="Panda mug", list_price_cents=3000, stock=5, status=201)
    ann = open_player(browser, server, room, "Ann")
    shop = Shop(server)
    try:
        ann.click("#bagBtn")
        item = ann.locator('#bagList li[data-product="mug"]')
        item.locator(".bag-buy").click()
        expect(ann.locator("#notice")).to_have_text(
            re.compile(r"^Reserved: 1 × ¥30\.00\. Pay within [45]:\d\d to keep it\.$")
        )
        ann.click("#ordersTab")
        expect(ann.locator("#ordersTab")).to_have_attribute("aria-selected", "true")
        expect(ann.locator("#ordersCount")).to_have_text("1 to pay")
        rows = ann.locator("#orderList li[data-order]")
        expect(rows).to_have_count(1)
        order_id = rows.first.get_attribute("data-order")
        assert order_id
        row = order_row(ann, order_id)
        expect(row.locator(".o-title")).to_have_text("Panda mug")
        expect(row.locator(".o-meta")).to_contain_text("1 × ¥30.00")
        state = row.locator(".o-state")
        expect(state).to_have_text(re.compile(r"^Pay within 4:5\d$"))
        first = state.inner_text()
        expect(state).not_to_have_text(first)  # it counts down
        expect(state).to_have_text(re.compile(r"^Pay within 4:5\d$"))

        # The shop confirms with its service token: the page learns it live, without a reload.
        shop.settle({"room": room, "id": order_id}, "confirm")
        expect(state).to_have_text("Paid")
        expect(row).to_have_attribute("data-state", "confirmed")
        expect(ann.locator("#notice")).to_have_text("Payment received: Panda mug is yours. Thank you!")
        expect(ann.locator("#ordersCount")).to_have_text("1")
        expect(row.locator(".o-cancel")).to_have_count(0)
        no_js_errors(ann)
    finally:
        shop.close()
        close(ann)
        api.close()


def test_orders_expire_and_cancel_live_and_come_from_every_room_and_device(browser, server):
    shop_room, here = unique_room("web-elsewhere"), unique_room("web-here")
    other = HostApi(server, shop_room, name="Olga")
    other.call("PUT", "", {"title": "Other show", "pay_within_s": 1}, status=201)
    other.call("POST", "/start", status=200)
    other.product("lamp", title="Paper lamp", list_price_cents=4500, stock=5, status=201)
    api = HostApi(server, here)
    api.call("PUT", "", {"title": "This show", "pay_within_s": 600}, status=201)
    api.call("POST", "/start", status=200)
    api.product("tee", title="LIVE tee", list_price_cents=9900, stock=5, status=201)
    # On another device, in another room, Flo buys a lamp and does not pay within the 1 s. A user
    # of this test's own: the session's server has other tests' users (their orders would show).
    flo = unique_room("flo")
    phone = Chatter(server, shop_room, "Flo", sub=flo)
    lamp = phone.buy_product("lamp")
    assert lamp["t"] == "ack" and lamp["order"]["state"] == "reserved", lamp
    page = new_page(browser, DESKTOP)
    try:
        token = server.token("viewer", None, name="Flo", sub=flo)
        page.goto(f"{server.url}/watch/{here}#token={token}")
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        page.click("#ordersTab")
        row = order_row(page, lamp["order"]["id"])
        expect(row.locator(".o-title")).to_have_text("Paper lamp")  # the title, from that room's bag
        expect(row.locator(".o-room")).to_have_text(f"in {shop_room}")
        expect(row.locator(".o-room")).to_have_attribute("href", f"/watch/{shop_room}")
        expect(row.locator(".o-state")).to_have_text("Expired")  # at pay_by_ms, on the server's clock
        expect(row.locator(".o-cancel")).to_have_count(0)

        # Here Flo reserves a tee on the phone: it shows up live (an `order` event on /ws/me).
        here_phone = Chatter(server, here, "Flo", sub=flo)
        try:
            tee = here_phone.buy_product("tee")
        finally:
            here_phone.close()
        tee_row = order_row(page, tee["order"]["id"])
        expect(tee_row.locator(".o-state")).to_have_text(re.compile(r"^Pay within (10:00|9:5\d)$"))
        expect(page.locator("#orderList li[data-order]").first).to_have_attribute(
            "data-order", tee["order"]["id"]
        )  # newest first
        page.click("#bagTab")
        expect(page.locator('#bagList li[data-product="tee"]')).to_contain_text("you have 1")

        # Flo cancels it from the page: the units go back and the order says so.
        page.click("#ordersTab")
        tee_row.locator(".o-cancel").click()
        expect(tee_row.locator(".o-state")).to_have_text("Cancelled")
        page.click("#bagTab")
        expect(page.locator('#bagList li[data-product="tee"] .bag-stock')).to_have_text("Only 5 left")
        expect(page.locator('#bagList li[data-product="tee"]')).not_to_contain_text("you have")

        # A reload keeps the list: it is the server's, not this browser's.
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        page.click("#ordersTab")
        expect(page.locator("#orderList li[data-order]")).to_have_count(2)
        no_js_errors(page)
    finally:
        phone.close()
        close(page)
        api.close()
        other.close()
