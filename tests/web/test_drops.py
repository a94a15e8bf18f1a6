"""Drops in real browsers (contract §10): a red envelope grabbed from the player lands in the wallet
of the Mine tab; a coupon grabbed and then picked at buy makes the order net of its discount; a
follow-task drop asks to follow first; the host starts a drop from a preset and watches the pool
empty and who got what. Screenshots go to LIVE_SHOTS_DIR (docs/screenshots) as drops-*.png."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support import unique_room
from tests.web.contrast import low_contrast
from tests.web.pages import (
    DESKTOP,
    PHONE,
    SMALL_PHONE,
    WIDE,
    Chatter,
    HostApi,
    close,
    me_get,
    new_page,
    no_js_errors,
    open_host,
    open_player,
    say,
    settled,
    shot,
)

pytestmark = pytest.mark.timeout(150)

WON = re.compile(r"^You got ¥(\d+)\.(\d\d)!$")


def yuan(cents: int) -> str:
    return f"¥{cents // 100:,}.{cents % 100:02d}"


def won_cents(page: Page) -> int:
    result = page.locator("#dropResult")
    expect(result).to_have_text(WON)
    match = WON.match(result.inner_text().strip())
    assert match, result.inner_text()
    return int(match[1]) * 100 + int(match[2])


def test_a_viewer_grabs_an_envelope_and_sees_the_amount_in_the_wallet(browser, server, tmp_path):
    room = unique_room("web-envelope")
    api = HostApi(server, room)
    api.live_room("Envelope rain")
    page = open_player(browser, server, room, "Ann", PHONE)
    try:
        drop = api.drop(kind="envelope", count=5, total_cents=500, duration_s=120)
        card = page.locator("#drop")
        expect(card).to_be_visible()
        expect(card).to_have_attribute("data-kind", "envelope")
        expect(page.locator("#dropTitle")).to_have_text("Red envelopes!")
        expect(page.locator("#dropWhat")).to_have_text("5 envelopes · ¥5.00 in all")
        expect(page.locator("#dropLeft")).to_have_text("5 left")
        expect(page.locator("#dropClock")).to_have_text(re.compile(r"^(2:00|1:[0-5]\d)$"))
        expect(page.locator("#dropTask")).to_be_hidden()
        grab = page.locator("#grabBtn")
        expect(grab).to_have_text("Grab")
        expect(grab).to_have_attribute("aria-disabled", "false")
        settled(page, "#drop")
        assert low_contrast(page) == []
        shot(page, tmp_path, "drops-phone-envelope")

        grab.click()
        cents = won_cents(page)
        assert 1 <= cents <= 500
        expect(grab).to_have_text("Got it")
        expect(grab).to_have_attribute("aria-disabled", "true")
        expect(page.locator("#dropLeft")).to_have_text("4 left")  # drop_left, from the server
        assert low_contrast(page) == []
        shot(page, tmp_path, "drops-phone-envelope-won")

        # What the page said is what the server credited.
        wallet = me_get(server, page, "/api/me/wallet")
        assert wallet["cents"] == cents, wallet
        assert [(e["room"], e["drop"], e["cents"]) for e in wallet["entries"]] == [(room, drop["id"], cents)]

        # The won card folds to a chip; the Mine tab has the balance and the entry.
        chip = page.locator("#dropChip")
        expect(chip).to_be_visible()
        expect(chip).to_have_text(f"You got {yuan(cents)}")
        expect(card).to_be_hidden()
        page.click("#bagBtn")
        page.click("#ordersTab")
        expect(page.locator("#walletCents")).to_have_text(yuan(cents))
        entry = page.locator(f'#walletEntries li[data-drop="{drop["id"]}"]')
        expect(entry).to_contain_text(f"+{yuan(cents)}")
        expect(entry).to_contain_text("this show")
        assert low_contrast(page) == []
        shot(page, tmp_path, "drops-phone-wallet")

        # A reload: the card still says what I got (the server would refuse a second grab).
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        expect(page.locator("#dropResult")).to_have_text(f"You got {yuan(cents)}!")
        expect(page.locator("#grabBtn")).to_have_text("Got it")
        no_js_errors(page)
    finally:
        close(page)
        api.close()


def test_a_coupon_grabbed_and_picked_at_buy_makes_the_order_net(browser, server, tmp_path):
    room = unique_room("web-coupon")
    api = HostApi(server, room)
    api.live_room("Coupon day")
    api.product("sticker", title="Sticker pack", list_price_cents=1000, stock=5, status=201)
    api.pin(stock=5, limit_per_user=2, tiers=[{"at": 0, "price_cents": 2500}])
    page = open_player(browser, server, room, "Cai", PHONE)
    try:
        expect(page.locator("#buy")).to_have_text("Buy now · ¥25.00")
        expect(page.locator("#couponRow")).to_be_hidden()  # no coupon yet

        api.drop(kind="coupon", count=5, value_cents=500, min_spend_cents=2000, valid_s=3600, duration_s=120)
        expect(page.locator("#drop")).to_have_attribute("data-kind", "coupon")
        expect(page.locator("#dropTitle")).to_have_text("Coupon drop!")
        expect(page.locator("#dropValue")).to_have_text("¥5")
        expect(page.locator("#dropCond")).to_have_text("off orders of ¥20 or more")
        expect(page.locator("#dropWhat")).to_have_text("Use within 1 h of grabbing")
        settled(page, "#drop")
        assert low_contrast(page) == []
        shot(page, tmp_path, "drops-phone-coupon")
        page.click("#grabBtn")
        expect(page.locator("#dropResult")).to_have_text(
            re.compile(r"^You got a coupon: ¥5 off orders of ¥20 or more, until \d\d:\d\d\.$")
        )
        coupons = me_get(server, page, "/api/me/coupons")["coupons"]
        assert len(coupons) == 1, coupons
        coupon = coupons[0]
        assert (coupon["room"], coupon["state"], coupon["value_cents"], coupon["min_spend_cents"]) == (
            room,
            "unused",
            500,
            2000,
        ), coupon
        expect(page.locator("#dropChip")).to_be_visible()  # the won card folds out of the way
        expect(page.locator("#dropChip")).to_have_text("Coupon saved")

        # The product card picks the coupon that applies, and says what the order costs with it.
        expect(page.locator("#couponRow")).to_be_visible()
        expect(page.locator("#couponPick")).to_have_value(coupon["id"])
        expect(page.locator("#couponOff")).to_have_text("−¥5.00")
        expect(page.locator("#buy")).to_have_text("Buy now · ¥20.00")

        # In the bag, a ¥10 product is below the coupon's minimum: offered, disabled, with the reason.
        page.click("#bagBtn")
        sticker = page.locator('#bagList li[data-product="sticker"]')
        sticker.locator(".bag-buy").click()
        checkout = sticker.locator(".bag-checkout")
        expect(checkout).to_be_visible()
        option = checkout.locator(f'option[value="{coupon["id"]}"]')
        expect(option).to_be_disabled()
        expect(option).to_have_text("¥5 off orders of ¥20 or more: not for this order (¥10.00)")
        expect(checkout.locator("select")).to_have_value("")
        expect(checkout.locator(".bag-confirm")).to_have_text("Buy · ¥10.00")
        assert low_contrast(page) == []
        shot(page, tmp_path, "drops-phone-bag-checkout")
        checkout.locator(".bag-cancel").click()
        expect(sticker.locator(".bag-checkout")).to_have_count(0)
        page.click("#shelfClose")

        # Buy the pinned mug with the coupon: the order carries the discount, its total is net.
        page.click("#buy")
        expect(page.locator("#notice")).to_have_text(
            "Order placed: 1 × ¥25.00 − ¥5.00 coupon = ¥20.00. Thank you!"
        )
        mine = page.locator("#mine .order")
        expect(mine).to_have_count(1)
        expect(mine.locator(".order-coupon")).to_have_text("coupon −¥5.00")
        expect(mine.locator("b")).to_have_text("¥20.00")
        orders = me_get(server, page, "/api/me/orders")["orders"]
        assert len(orders) == 1, orders
        order = orders[0]
        assert (order["coupon"], order["discount_cents"], order["total_cents"]) == (
            coupon["id"],
            500,
            2000,
        ), order
        expect(page.locator("#couponRow")).to_be_hidden()  # that coupon is used now
        expect(page.locator("#buy")).to_have_text("Buy more · ¥25.00")

        # Mine: the coupon is used (greyed, after the unused ones) and the order shows the discount.
        page.click("#bagBtn")
        page.click("#ordersTab")
        item = page.locator(f'#couponList li[data-coupon="{coupon["id"]}"]')
        expect(item).to_have_attribute("data-state", "used")
        expect(item.locator(".cp-state")).to_have_text(f"used on order #{order['id'][-6:]}")
        row = page.locator(f'#orderList li[data-order="{order["id"]}"]')
        expect(row.locator(".o-coupon")).to_have_text("coupon −¥5.00")
        expect(row.locator(".o-meta b")).to_have_text("¥20.00")
        assert low_contrast(page) == []
        shot(page, tmp_path, "drops-phone-mine")
        no_js_errors(page)
    finally:
        close(page)
        api.close()


def test_a_follow_task_drop_asks_to_follow_then_the_grab_succeeds(browser, server, tmp_path):
    room = unique_room("web-drop-follow")
    api = HostApi(server, room, name="Fay")
    # A host of this test's own: follows are per user, and the session's server has other tests'.
    api.token = server.token("host", room, name="Fay", sub=unique_room("fay"))
    api.http.headers["Authorization"] = f"Bearer {api.token}"
    api.live_room("Followers win")
    page = open_player(browser, server, room, "Gus", PHONE)
    try:
        expect(page.locator("#followBtn")).to_have_text("Follow")
        api.drop(kind="envelope", count=3, total_cents=888, duration_s=120, task="follow")
        expect(page.locator("#dropTaskText")).to_have_text("Follow the host to grab")
        expect(page.locator("#dropTaskBtn")).to_have_text("Follow")

        # Grabbing first: the server says what to do, in words, and the button stays usable.
        page.click("#grabBtn")
        expect(page.locator("#dropResult")).to_have_text(
            re.compile(r"^To grab this one, .*follow.*\.$", re.I)
        )
        expect(page.locator("#grabBtn")).to_have_text("Grab")
        expect(page.locator("#grabBtn")).to_have_attribute("aria-disabled", "false")
        settled(page, "#drop")
        assert low_contrast(page) == []
        shot(page, tmp_path, "drops-phone-follow-task")

        page.click("#dropTaskBtn")
        expect(page.locator("#dropTaskText")).to_have_text("✓ You follow the host")
        expect(page.locator("#dropTaskBtn")).to_be_hidden()
        expect(page.locator("#followBtn")).to_have_text("Following")
        page.click("#grabBtn")
        cents = won_cents(page)
        assert me_get(server, page, "/api/me/wallet")["cents"] == cents
        no_js_errors(page)
    finally:
        close(page)
        api.close()


def test_the_host_starts_a_drop_from_a_preset_and_sees_the_pool_empty_and_who_got_what(
    browser, server, tmp_path
):
    room = unique_room("web-drop-host")
    api = HostApi(server, room)
    api.live_room("Drop party")
    host = open_host(browser, server, room, viewport=DESKTOP)
    viewer = open_player(browser, server, room, "Vic", WIDE)
    grabbers: list[Chatter] = []
    try:
        expect(host.locator("#net")).to_have_attribute("data-status", "online")
        expect(host.locator("#dropState")).to_have_text("none")
        host.click('#dropPresets [data-preset="envelopes"]')
        expect(host.locator("#dropCount")).to_have_value("50")
        expect(host.locator("#dropTotal")).to_have_value("100")
        expect(host.locator("#dropWindow")).to_have_value("30")
        expect(host.locator("#dropTotal")).to_be_visible()
        expect(host.locator("#dropValue")).to_be_hidden()
        host.fill("#dropCount", "3")  # three grabbers fill it in this test
        host.fill("#dropWindow", "120")
        host.fill("#dropTotal", "0.02")
        expect(host.locator("#dropProblems")).to_contain_text("Total must be at least ¥0.03")
        expect(host.locator("#dropBtn")).to_be_disabled()
        host.fill("#dropTotal", "100")
        expect(host.locator("#dropProblems li")).to_have_count(0)
        host.click("#dropBtn")
        expect(host.locator("#dropState")).to_have_text("live")
        expect(host.locator("#dropTaken")).to_have_text("0 / 3 taken")
        expect(host.locator("#dropWhat")).to_have_text("3 red envelopes, ¥100.00 in all")
        expect(host.locator("#dropBtn")).to_be_disabled()  # one drop at a time
        expect(host.locator("#dropGrabs")).to_contain_text("Nobody has grabbed one yet.")
        drop_id = host.evaluate("window.__live.drops.drop.id")
        expect(viewer.locator("#drop")).to_be_visible()
        expect(viewer.locator("#dropLeft")).to_have_text("Only 3 left!")

        names = ["Ann", "Ben", "Cy"]
        grabbers = [Chatter(server, room, name, sub=unique_room(name.lower())) for name in names]
        amounts: list[int] = []
        first = grabbers[0].grab(drop_id)
        assert first["t"] == "ack", first
        amounts.append(first["envelope"]["cents"])
        expect(host.locator("#dropTaken")).to_have_text("1 / 3 taken")
        expect(host.locator("#dropGrabs li.grab .grab-who")).to_have_text(["Ann"])
        expect(host.locator("#dropGrabs li.grab .grab-what")).to_have_text([yuan(amounts[0])])
        expect(viewer.locator("#dropLeft")).to_have_text("Only 2 left!")
        settled(viewer, "#drop")
        host.locator("#dropsCard").scroll_into_view_if_needed()
        assert low_contrast(host) == []
        shot(host, tmp_path, "drops-host-desktop-live")
        shot(viewer, tmp_path, "drops-player-desktop")

        for chatter in grabbers[1:]:
            answer = chatter.grab(drop_id)
            assert answer["t"] == "ack", answer
            amounts.append(answer["envelope"]["cents"])
        assert sum(amounts) == 10_000 and min(amounts) >= 1, amounts

        # All taken: drop_end. The pool is empty, the grabbers are listed newest first.
        expect(host.locator("#dropState")).to_have_text("ended")
        expect(host.locator("#dropTaken")).to_have_text("3 / 3 taken")
        expect(host.locator("#dropFill")).to_have_attribute("style", re.compile(r"width: 0%"))
        expect(host.locator("#dropGrabs li.grab .grab-who")).to_have_text(names[::-1])
        expect(host.locator("#dropGrabs li.grab .grab-what")).to_have_text([yuan(c) for c in amounts[::-1]])
        expect(host.locator("#dropSum")).to_have_text("Ended: ¥100.00 of ¥100.00 given out")
        expect(host.locator("#dropBtn")).to_be_enabled()
        expect(viewer.locator("#drop")).to_be_hidden()  # drop_end closes the card of one who did not grab
        host.locator("#dropsCard").scroll_into_view_if_needed()
        shot(host, tmp_path, "drops-host-desktop-ended")

        late = Chatter(server, room, "Dee", sub=unique_room("dee"))
        grabbers.append(late)
        too_late = late.grab(drop_id)
        assert too_late["t"] == "error" and too_late["code"] in ("gone", "ended"), too_late

        # A refusal is told in words: no drop once the show is over.
        api.call("POST", "/stop", status=200)
        expect(host.locator("#statusBadge")).to_have_text("ended")
        expect(host.locator("#dropHint")).to_have_text("Drops need a live show: start it first.")
        host.click('#dropPresets [data-preset="coupons"]')
        expect(host.locator("#dropValue")).to_have_value("5")
        expect(host.locator("#dropMin")).to_have_value("20")
        host.click("#dropBtn")
        expect(host.locator("#flash")).to_have_text("Drop: the show is not live. Start it, then drop.")
        no_js_errors(host, viewer)
    finally:
        for chatter in grabbers:
            chatter.close()
        close(host, viewer)
        api.close()


def test_the_drop_card_fits_a_small_phone(browser, server, tmp_path):
    room = unique_room("web-drop-small")
    api = HostApi(server, room)
    api.live_room("Small screen")
    api.pin(stock=5)
    page = new_page(browser, SMALL_PHONE)
    try:
        page.goto(f"{server.url}/watch/{room}?name=Sia")
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        api.drop(kind="coupon", count=100, value_cents=500, min_spend_cents=2000, duration_s=60, task="chat")
        card = page.locator("#drop")
        expect(card).to_be_visible()
        expect(page.locator("#dropTaskText")).to_have_text("Say something in chat to grab")
        box = card.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 320 and box["y"] + box["height"] <= 640, (
            box
        )
        settled(page, "#drop")
        grab = page.locator("#grabBtn").bounding_box()
        assert grab and grab["height"] >= 40 and grab["y"] + grab["height"] <= 640, grab
        assert low_contrast(page) == []
        # Folded, it gives the screen back and says the time left; a tap opens it again.
        page.click("#dropFold")
        expect(card).to_be_hidden()
        expect(page.locator("#dropChip")).to_have_text(re.compile(r"^Coupon · (1:00|0:[0-5]\d)$"))
        say(page, "hello from a small phone")  # the chat task, done
        expect(page.locator("#chat li", has_text="hello from a small phone")).to_have_count(1)
        page.click("#dropChip")
        expect(card).to_be_visible()
        expect(page.locator("#dropTaskText")).to_have_text("✓ You posted in the chat")
        no_js_errors(page)
    finally:
        close(page)
        api.close()
