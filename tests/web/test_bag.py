"""The bag in real browsers: a player buys from it on a phone, stock and products change live,
errors are told in words; the panel adds, edits, removes and pins bag products and counts orders
by state."""

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
    no_js_errors,
    open_host,
    open_player,
)

pytestmark = pytest.mark.timeout(120)


def item(page, product_id: str):
    return page.locator(f'#bagList li[data-product="{product_id}"]')


def test_player_buys_from_the_bag_and_sees_stock_and_products_change_live(browser, server):
    room = unique_room("web-bag")
    api = HostApi(server, room)
    api.call("PUT", "", {"title": "Bag show"}, status=201)
    api.product("mug", title="Panda mug", list_price_cents=3000, stock=2, limit_per_user=1, status=201)
    api.product(
        "tee", title="LIVE tee", list_price_cents=9900, stock=20, image_url="/static/img/tee.svg", status=201
    )
    ann = open_player(browser, server, room, "Ann")
    rival = Chatter(server, room, "Rex", sub="rex")
    try:
        # On a phone the bag is a sheet behind the bag button, with the number of products.
        expect(ann.locator("#bagN")).to_have_text("2")
        expect(ann.locator("#shelf")).to_be_hidden()
        ann.click("#bagBtn")
        expect(ann.locator("#shelf")).to_be_visible()
        expect(ann.locator("#chat")).to_be_hidden()  # the open sheet takes the chat's place
        expect(item(ann, "mug")).to_contain_text("Panda mug")
        expect(item(ann, "mug").locator(".bag-price")).to_have_text("¥30.00")
        expect(item(ann, "mug").locator(".bag-stock")).to_have_text("Only 2 left")
        expect(item(ann, "tee").locator(".bag-stock")).to_have_text("20 left")
        expect(item(ann, "tee").locator("img")).to_have_attribute("src", "/static/img/tee.svg")

        # Before the show is live the bag does not sell, and a tap says why in words.
        expect(item(ann, "mug").locator(".bag-buy")).to_have_text("Not live yet")
        item(ann, "mug").locator(".bag-buy").click(force=True)  # aria-disabled: still tappable
        expect(ann.locator("#notice")).to_have_text("The show is not live: the bag opens when it starts.")

        api.call("POST", "/start", status=200)
        buy = item(ann, "mug").locator(".bag-buy")
        expect(buy).to_have_text("Buy")
        expect(buy).to_have_attribute("aria-label", "Buy Panda mug for ¥30.00")
        buy.click()
        expect(ann.locator("#notice")).to_have_text("Order placed: 1 × ¥30.00. Thank you!")
        expect(buy).to_have_text("Limit reached (1/1)")
        expect(item(ann, "mug").locator(".bag-stock")).to_have_text("Only 1 left")
        expect(item(ann, "mug")).to_contain_text("you have 1")

        # Someone else takes the last one: bag_stock says so on Ann's screen.
        assert rival.buy_product("mug")["t"] == "ack"
        expect(item(ann, "mug").locator(".bag-stock")).to_have_text("None left")
        assert rival.buy_product("mug")["code"] == "limit_reached"  # checked before the stock
        assert rival.buy_product("tee", 6)["code"] == "limit_reached"  # the default limit is 5

        # The host changes a product, adds one and removes one: `product` events, live.
        api.product("tee", title="LIVE tee, black", list_price_cents=7900, stock=20, status=200)
        expect(item(ann, "tee").locator(".bag-title")).to_have_text("LIVE tee, black")
        expect(item(ann, "tee").locator(".bag-price")).to_have_text("¥79.00")
        api.product("cap", title="Sun cap", list_price_cents=1500, stock=3, status=201)
        expect(ann.locator("#bagList li[data-product]")).to_have_count(3)
        expect(ann.locator("#bagN")).to_have_text("3")
        api.call("DELETE", "/products/cap", status=200)
        expect(item(ann, "cap")).to_have_count(0)

        # A buy the server refuses is told in words too (here: the host emptied the stock).
        item(ann, "tee").locator(".bag-buy").click()
        expect(ann.locator("#notice")).to_contain_text("Order placed")
        api.product("tee", title="LIVE tee, black", list_price_cents=7900, stock=1, status=200)
        expect(item(ann, "tee").locator(".bag-buy")).to_have_text("Sold out")

        # The pinned flash sale stays on top of the open sheet.
        api.pin(id="mug-pin", product={"id": "pin-mug", "title": "Flash mug", "list_price_cents": 3000})
        expect(ann.locator("#product")).to_be_visible()
        card, sheet = ann.locator("#product").bounding_box(), ann.locator("#shelf").bounding_box()
        assert card and sheet and card["y"] + card["height"] <= sheet["y"] + 1, (card, sheet)
        ann.click("#shelfClose")
        expect(ann.locator("#shelf")).to_be_hidden()
        expect(ann.locator("#bagBtn")).to_have_attribute("aria-expanded", "false")
        no_js_errors(ann)
    finally:
        rival.close()
        close(ann)
        api.close()


def test_panel_edits_the_bag_pins_from_it_and_counts_orders_by_state(browser, server):
    room = unique_room("web-bagpanel")
    api = HostApi(server, room)
    api.live_room("Panel bag")
    host = open_host(browser, server, room, viewport=DESKTOP)
    buyers = [Chatter(server, room, name, sub=name.lower()) for name in ("Ida", "Jon", "Kim")]
    shop = Shop(server)
    try:
        expect(host.locator("#net")).to_have_attribute("data-status", "online")
        expect(host.locator("#bagList")).to_contain_text("The bag is empty")

        # Add: the form checks what the server checks before it sends.
        host.click("#addProductBtn")
        host.fill("#prodId", "bad id!")
        host.fill("#prodTitle", "Bamboo cup")
        host.fill("#prodPrice", "12.5")
        host.fill("#prodStock", "40")
        host.click("#productSave")
        expect(host.locator("#productProblems")).to_contain_text("Id: 1-64 letters")
        host.fill("#prodId", "cup")
        host.click("#productSave")
        row = host.locator('#bagList li[data-product="cup"]')
        expect(row).to_contain_text("Bamboo cup")
        expect(row).to_contain_text("¥12.50")
        expect(row.locator(".bag-stock")).to_have_text("40 / 40 left")
        expect(host.locator("#productForm")).to_be_hidden()

        # Edit: the id stays, the rest changes.
        row.locator(".edit-product").click()
        expect(host.locator("#prodId")).to_have_value("cup")
        expect(host.locator("#prodId")).to_have_attribute("readonly", "")
        host.fill("#prodTitle", "Bamboo cup, large")
        host.fill("#prodPrice", "15")
        host.click("#productSave")
        expect(row.locator(".bag-title")).to_have_text("Bamboo cup, large")
        expect(row).to_contain_text("¥15.00")

        # A product added elsewhere (another tab, the API) shows up live; removing it works.
        api.product("spare", title="Spare lid", list_price_cents=500, stock=5, status=201)
        spare = host.locator('#bagList li[data-product="spare"]')
        expect(spare).to_contain_text("Spare lid")
        spare.locator(".remove-product").click()
        expect(spare).to_have_count(0)
        expect(host.locator("#flash")).to_have_text("Spare lid is out of the bag.")

        # Orders wait 5 minutes for payment from now on.
        host.fill("#payWithin", "300")
        host.click("#paySave")
        expect(host.locator("#payNote")).to_have_text("Unpaid orders expire after 5:00.")
        assert api.call("GET", "")["room"]["pay_within_s"] == 300

        # One click pins it as a flash sale with the form's defaults; its stock leaves the bag.
        row.locator(".pin-from-bag").click()
        expect(host.locator("#pinTitle")).to_have_text("Bamboo cup, large")
        expect(host.locator("#pinState")).to_have_text("live")
        expect(host.locator("#pinStock")).to_have_text("40 left")
        expect(row.locator(".bag-stock")).to_have_text("0 / 40 left")
        expect(row.locator(".pin-from-bag")).to_be_disabled()  # nothing left to pin
        expect(row).to_contain_text("pinned")

        # A pinned product cannot be removed: the panel says so in words.
        row.locator(".remove-product").click()
        expect(host.locator("#flash")).to_contain_text("Bamboo cup, large can't be removed yet:")
        expect(row).to_have_count(1)

        # Orders by state: three reserved; the shop confirms one, one buyer cancels, one waits.
        pin_id = host.evaluate("window.__live.state.pin.id")
        orders = []
        for buyer in buyers:
            answer = buyer.buy(pin_id)
            assert answer["t"] == "ack" and answer["order"]["state"] == "reserved", answer
            orders.append(answer["order"])
        expect(host.locator("#count-reserved")).to_have_text("3")
        shop.settle({"room": room, **orders[0]}, "confirm")
        shop.settle({"room": room, **orders[1]}, "cancel")
        for state, n in (("reserved", "1"), ("confirmed", "1"), ("cancelled", "1"), ("expired", "0")):
            expect(host.locator(f"#count-{state}")).to_have_text(n)
        table = host.locator("#orderRows")
        expect(table.locator(f'tr[data-order="{orders[0]["id"]}"] .ostate')).to_have_text("confirmed")
        expect(table.locator(f'tr[data-order="{orders[1]["id"]}"] .ostate')).to_have_text("cancelled")
        expect(table.locator(f'tr[data-order="{orders[2]["id"]}"] .ostate')).to_have_text("reserved")
        expect(table.locator(f'tr[data-order="{orders[2]["id"]}"] td.product')).to_have_text(
            "Bamboo cup, large"
        )
        assert re.search(
            r"pay by", table.locator(f'tr[data-order="{orders[2]["id"]}"]').get_attribute("title") or ""
        )

        # The pin ends: its unsold units go back to the bag product.
        host.click("#endPinBtn")
        expect(host.locator("#pinState")).to_have_text("ended")
        expect(row.locator(".bag-stock")).to_have_text("38 / 40 left")  # 1 confirmed + 1 reserved held
        no_js_errors(host)
    finally:
        for buyer in buyers:
            buyer.close()
        shop.close()
        close(host)
        api.close()
