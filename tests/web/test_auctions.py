"""Live auctions in real browsers (contract §11): two phones bid against each other and each is told
at once when outbid, a late bid moves the clock, both see the same winner and the winner's order is
in Mine; a low amount is refused with the minimum, and an upcoming auction counts down; the host
starts one from a preset, watches the ladder, can't bid, and sees the result with its order.
Screenshots go to LIVE_SHOTS_DIR (docs/screenshots) as auction-*.png."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support import unique_room
from tests.web.contrast import low_contrast
from tests.web.pages import (
    DESKTOP,
    PHONE,
    WIDE,
    Chatter,
    HostApi,
    close,
    me_get,
    new_page,
    no_js_errors,
    open_host,
    open_player,
    settled,
    shot,
)

pytestmark = pytest.mark.timeout(150)

# An auction ends by the server's clock: these waits cover its whole length, not a guess at it.
END_WAIT_MS = 50_000
MUG = "/static/img/panda-mug.svg"


def primary(page: Page):
    return page.locator("#auQuick .au-bid-min")


def test_two_bidders_are_told_when_outbid_the_clock_jumps_and_both_see_the_winner(browser, server, tmp_path):
    room = unique_room("web-auction")
    api = HostApi(server, room)
    api.live_room("Card night")
    api.call("PUT", "", {"title": "Card night", "pay_within_s": 300}, status=200)
    api.product("card", title="Rookie card", list_price_cents=5000, stock=1, image_url=MUG, status=201)
    ann = open_player(browser, server, room, "Ann", PHONE)
    ben = open_player(browser, server, room, "Ben", PHONE)
    try:
        # Every bid comes with less than extend_s left (10 s to go, 20 s of extension): each one
        # moves the end, so the clock's jump needs no waiting for the last seconds.
        auction = api.auction(
            product_id="card", start_cents=1000, increment_cents=100, duration_s=10, extend_s=20
        )
        for p in (ann, ben):
            card = p.locator("#auction")
            expect(card).to_be_visible()
            expect(card).to_have_attribute("data-auction", auction["id"])
            expect(p.locator("#auTitle")).to_have_text("Rookie card")
            expect(p.locator("#auBidLabel")).to_have_text("Starting at")
            expect(p.locator("#auHigh")).to_have_text("¥10.00")
            expect(p.locator("#auBidder")).to_have_text("No bids yet")
            expect(p.locator("#auRule")).to_have_text("Late bids add time (20 s)")
            expect(p.locator("#auClock")).to_have_text(re.compile(r"^0:(10|0\d)$"))
            expect(primary(p)).to_have_text("Bid ¥10.00")
            expect(p.locator("#auQuick .au-bid-up")).to_have_text(["¥11", "¥12", "¥15"])
            expect(p.locator("#auStatus")).to_be_hidden()
        settled(ann, "#auction")
        assert low_contrast(ann) == []
        shot(ann, tmp_path, "auction-phone-live")

        primary(ann).click()
        expect(ann.locator("#auStatus")).to_have_text("You're winning")
        # The bid moved the end by 10 s or more: both clocks jump back, and say by how much.
        for p in (ann, ben):
            card = p.locator("#auction")
            expect(card).to_have_attribute("data-jumps", "1")
            assert int(card.get_attribute("data-jump-s") or 0) >= 10
            expect(p.locator("#auClock")).to_have_text(re.compile(r"^0:(1\d|20)$"))
        expect(ben.locator("#auHigh")).to_have_text("¥10.00")
        expect(ben.locator("#auBidder")).to_have_text("Ann · 1 bid")
        expect(ben.locator("#auStatus")).to_be_hidden()  # Ben has not bid: nobody outbid him

        expect(primary(ben)).to_have_text("Bid ¥11.00")
        primary(ben).click()
        expect(ben.locator("#auStatus")).to_have_text("You're winning")
        expect(ann.locator("#auStatus")).to_have_text("Outbid by Ben")  # from the bid event, at once
        expect(ann.locator("#auHigh")).to_have_text("¥11.00")
        expect(primary(ann)).to_have_text("Bid ¥12.00")
        settled(ann, "#auction")
        assert low_contrast(ann) == []
        shot(ann, tmp_path, "auction-phone-outbid")

        ann.locator("#auQuick .au-bid-up").first.click()  # one increment above the minimum
        expect(ann.locator("#auStatus")).to_have_text("You're winning")
        expect(ann.locator("#auHigh")).to_have_text("¥13.00")
        expect(ben.locator("#auStatus")).to_have_text("Outbid by Ann")
        ben.fill("#auAmount", "15")
        ben.click("#auSend")
        expect(ben.locator("#auStatus")).to_have_text("You're winning")
        expect(ben.locator("#auAmount")).to_have_value("")
        expect(ann.locator("#auStatus")).to_have_text("Outbid by Ben")
        expect(ann.locator("#auBidder")).to_have_text("Ben · 4 bids")

        # The end, by the server's clock: the same winner on both phones.
        expect(ben.locator("#auResultText")).to_have_text("You won! Pay in Mine", timeout=END_WAIT_MS)
        expect(ann.locator("#auResultText")).to_have_text("Ben won for ¥15.00", timeout=END_WAIT_MS)
        expect(ann.locator("#auQuick")).to_be_hidden()
        expect(ann.locator("#chat li.sys", has_text="Ben won Rookie card for ¥15.00.")).to_have_count(1)
        assert low_contrast(ann) == []
        shot(ann, tmp_path, "auction-phone-lost")
        expect(ben.locator("#auction")).to_have_attribute("data-winner", "me")
        settled(ben, "#auction")
        assert low_contrast(ben) == []
        shot(ben, tmp_path, "auction-phone-won")

        # The winner's order, in Mine: the server's, at the winning price, waiting for payment.
        ben.click("#auMine")
        row = ben.locator(f'#orderList li[data-order="won-{auction["id"]}"]')
        expect(row).to_be_visible()
        expect(row.locator(".o-title")).to_contain_text("Rookie card")
        expect(row.locator(".o-won")).to_have_text("won at auction")
        expect(row.locator(".o-meta")).to_contain_text("1 × ¥15.00")
        expect(row.locator(".o-state")).to_have_text(re.compile(r"^Pay within \d:\d\d$"))
        orders = me_get(server, ben, "/api/me/orders")["orders"]
        assert [(o["id"], o["auction"], o["total_cents"], o["state"]) for o in orders] == [
            (f"won-{auction['id']}", auction["id"], 1500, "reserved")
        ], orders
        assert me_get(server, ann, "/api/me/orders")["orders"] == []
        assert low_contrast(ben) == []
        shot(ben, tmp_path, "auction-phone-mine")
        no_js_errors(ann, ben)
    finally:
        close(ann, ben)
        api.close()


def test_a_low_amount_is_refused_with_the_minimum_and_an_upcoming_auction_counts_down(
    browser, server, tmp_path
):
    room = unique_room("web-auction-low")
    api = HostApi(server, room)
    api.live_room("Poster hour")
    page = open_player(browser, server, room, "Cai", PHONE)
    dan = Chatter(server, room, "Dan", sub=unique_room("dan"))
    try:
        poster = {"id": "poster", "title": "Signed poster", "list_price_cents": 8000}
        auction = api.auction(
            product=poster, start_cents=2000, increment_cents=500, duration_s=60, extend_s=0, starts_in_s=8
        )
        card = page.locator("#auction")
        expect(card).to_have_attribute("data-phase", "upcoming")
        expect(page.locator("#auClockLabel")).to_have_text("Starts in")
        expect(page.locator("#auClock")).to_have_text(re.compile(r"^0:0[1-8]$"))
        expect(page.locator("#auRule")).to_have_text("Sudden death: the end never moves")
        expect(primary(page)).to_have_text("Bid ¥20.00")
        expect(primary(page)).to_have_attribute("aria-disabled", "true")
        # Too early: said with the time to wait, nothing sent. (force: Playwright waits for an
        # aria-disabled button to be enabled; a person can tap it all the same.)
        primary(page).click(force=True)
        expect(page.locator("#auNoteText")).to_have_text(
            re.compile(r"^Not open yet\. Bidding opens in 0:0[0-8]\.$")
        )
        settled(page, "#auction")
        assert low_contrast(page) == []
        shot(page, tmp_path, "auction-phone-upcoming")

        expect(card).to_have_attribute("data-phase", "live", timeout=20_000)  # the server's `auction` event
        expect(page.locator("#auClockLabel")).to_have_text("Left")
        expect(primary(page)).to_have_attribute("aria-disabled", "false")
        first = dan.bid(auction["id"], 2000)
        assert first["t"] == "ack", first
        expect(page.locator("#auHigh")).to_have_text("¥20.00")
        expect(page.locator("#auBidder")).to_have_text("Dan · 1 bid")
        expect(primary(page)).to_have_text("Bid ¥25.00")

        # An amount under the minimum goes to the server, which says the minimum; the page says it in words.
        page.fill("#auAmount", "21")
        page.click("#auSend")
        expect(page.locator("#auNoteText")).to_have_text("Too low: the lowest bid now is ¥25.00.")
        expect(page.locator("#auNote")).to_have_attribute("data-kind", "error")
        expect(page.locator("#auAmount")).to_have_value("21")  # kept, to correct
        expect(primary(page)).to_have_text("Bid ¥25.00")  # the minimum, one tap away
        expect(page.locator("#auStatus")).to_be_hidden()
        assert low_contrast(page) == []
        shot(page, tmp_path, "auction-phone-too-low")
        page.fill("#auAmount", "x")
        page.click("#auSend")
        expect(page.locator("#auNoteText")).to_have_text("Type an amount, like 25 or 25.50.")

        primary(page).click()
        expect(page.locator("#auStatus")).to_have_text("You're winning")
        expect(page.locator("#auNote")).to_be_hidden()
        low = dan.bid(auction["id"], 2600)
        assert low["t"] == "error" and low["code"] == "too_low" and low["min_cents"] == 3000, low
        assert dan.bid(auction["id"], 3000)["t"] == "ack"
        expect(page.locator("#auStatus")).to_have_text("Outbid by Dan")

        # Folded, it gives the video back and keeps the standing and the clock in a chip.
        page.click("#auFold")
        expect(card).to_be_hidden()
        expect(page.locator("#auctionChip")).to_have_text(re.compile(r"^Outbid · ¥30\.00 · \d:\d\d$"))
        page.click("#auctionChip")
        expect(card).to_be_visible()
        no_js_errors(page)
    finally:
        dan.close()
        close(page)
        api.close()


def test_the_host_starts_an_auction_from_a_preset_sees_the_bids_and_the_result(browser, server, tmp_path):
    room = unique_room("web-auction-host")
    api = HostApi(server, room)
    api.live_room("Lots of lots")
    api.product("card", title="Rookie card", list_price_cents=5000, stock=2, image_url=MUG, status=201)
    host = open_host(browser, server, room, viewport=DESKTOP)
    bidders: list[Chatter] = []
    pages: list[Page] = [host]
    try:
        expect(host.locator("#net")).to_have_attribute("data-status", "online")
        expect(host.locator("#auState")).to_have_text("none")
        expect(host.locator("#auProduct")).to_have_value("card")
        expect(host.locator("#auStart")).to_have_value("15")  # about a third of the list price
        expect(host.locator("#auStep")).to_have_value("1")
        host.click('#auPresets [data-preset="sudden30"]')
        expect(host.locator("#auExtend")).to_have_value("0")
        expect(host.locator("#auHint")).to_have_text("Sudden death: the end never moves.")
        host.fill("#auDuration", "2")
        expect(host.locator("#auProblems")).to_contain_text(
            "Duration must be a whole number from 5 to 3,600."
        )
        expect(host.locator("#auBtn")).to_be_disabled()
        host.click('#auPresets [data-preset="extend10"]')
        expect(host.locator("#auDuration")).to_have_value("30")
        expect(host.locator("#auExtend")).to_have_value("10")
        expect(host.locator("#auProblems li")).to_have_count(0)
        host.click("#auBtn")
        expect(host.locator("#auState")).to_have_text("live")
        expect(host.locator("#auTitle")).to_have_text("Rookie card")
        expect(host.locator("#auRules")).to_have_text("from ¥15.00, +¥1.00 a bid · late bids add 10 s")
        expect(host.locator("#auHigh")).to_have_text("none yet")
        expect(host.locator("#auLadder")).to_have_text("No bids yet.")
        expect(host.locator('#bagList li[data-product="card"] .bag-stock')).to_have_text("1 / 2 left")
        auction_id = host.evaluate("window.__live.auctions.auction.id")

        viewer = open_player(browser, server, room, "Vic", WIDE)
        pages.append(viewer)
        expect(viewer.locator("#auction")).to_be_visible()
        # The host's own player: the card, without anything to bid with.
        mine = new_page(browser, PHONE)
        pages.append(mine)
        mine.goto(f"{server.url}/watch/{room}#token={api.token}")
        expect(mine.locator("body")).to_have_attribute("data-net", "online")
        expect(mine.locator("#auction")).to_be_visible()
        expect(mine.locator("#auStatus")).to_have_text("You're the host: your viewers bid here.")
        expect(mine.locator("#auQuick")).to_be_hidden()
        expect(mine.locator("#auCustom")).to_be_hidden()

        ann = Chatter(server, room, "Ann", sub=unique_room("ann"))
        ben = Chatter(server, room, "Ben", sub=unique_room("ben"))
        bidders = [ann, ben]
        assert ann.bid(auction_id, 1500)["t"] == "ack"
        assert ben.bid(auction_id, 1600)["t"] == "ack"
        low = ann.bid(auction_id, 1650)
        assert low["code"] == "too_low" and low["min_cents"] == 1700, low
        assert ann.bid(auction_id, 2000)["t"] == "ack"
        # The ladder, newest first, from the bid events (a refused bid is not on it).
        expect(host.locator("#auLadder li.au-rung .au-who")).to_have_text(["Ann", "Ben", "Ann"])
        expect(host.locator("#auLadder li.au-rung .au-cents")).to_have_text(["¥20.00", "¥16.00", "¥15.00"])
        expect(host.locator("#auHigh")).to_have_text("¥20.00")
        expect(host.locator("#auBidder")).to_have_text("Ann")
        expect(host.locator("#auBids")).to_have_text("3")
        expect(host.locator("#auClock")).to_have_text(re.compile(r"^ends in 0:[0-3]\d$"))
        expect(host.locator("#auHint")).to_have_text(
            "An auction is running: starting another ends it now (its highest bid wins)."
        )
        expect(viewer.locator("#auBidder")).to_have_text("Ann · 3 bids")
        host.evaluate("scrollTo(0, 0)")  # the card heads the middle column
        assert low_contrast(host) == []
        shot(host, tmp_path, "auction-host-desktop-live")
        settled(viewer, "#auction")
        assert low_contrast(viewer) == []
        shot(viewer, tmp_path, "auction-player-desktop")

        # The end (30 s after the start: no bid came late): the winner, the price, the order.
        expect(host.locator("#auState")).to_have_text("ended", timeout=END_WAIT_MS)
        result = host.locator("#auResult")
        expect(result).to_contain_text("Sold to Ann for ¥20.00")
        expect(result.locator(".au-order")).to_have_text(f"won-{auction_id}")
        expect(host.locator("#auClock")).to_have_text("over")
        order_row = host.locator(f'#orderRows tr[data-order="won-{auction_id}"]')
        expect(order_row).to_contain_text("Rookie card")
        expect(order_row).to_contain_text("1 × ¥20.00")
        expect(viewer.locator("#auResultText")).to_have_text("Ann won for ¥20.00")
        expect(mine.locator("#auResultText")).to_have_text("Ann won for ¥20.00")
        late = ben.bid(auction_id, 5000)
        assert late["t"] == "error" and late["code"] == "ended", late
        host.evaluate("scrollTo(0, 0)")  # the card heads the middle column
        assert low_contrast(host) == []
        shot(host, tmp_path, "auction-host-desktop-ended")

        # A product typed in (not from the bag) is checked as the server checks it.
        host.select_option("#auProduct", "__inline")
        expect(host.locator("#auProblems")).to_contain_text("Product id: 1-64 letters, digits, - or _.")
        host.fill("#auPid", "poster")
        host.fill("#auPtitle", "Signed poster")
        host.fill("#auPprice", "80")
        expect(host.locator("#auProblems li")).to_have_count(0)
        host.click("#auBtn")
        expect(host.locator("#auTitle")).to_have_text("Signed poster")
        expect(host.locator("#auPrev")).to_have_text(
            f"Last lot: Rookie card, sold to Ann for ¥20.00 (order won-{auction_id})."
        )
        expect(viewer.locator("#auTitle")).to_have_text("Signed poster")
        no_js_errors(*pages)
    finally:
        for bidder in bidders:
            bidder.close()
        close(*pages)
        api.close()
