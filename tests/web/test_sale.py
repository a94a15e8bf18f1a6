"""A whole flash sale in real browsers: the panel pins, two players chat the price down, buy,
the host sees the orders and figures, deletes a line, ends the pin; refunds follow."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support import unique_room
from tests.web.pages import close, no_js_errors, open_host, open_player, say

pytestmark = pytest.mark.timeout(150)


def test_host_pins_players_chat_the_price_down_buy_and_the_host_sees_it(browser, server):
    room = unique_room("web-sale")
    host = open_host(browser, server, room)
    # A room that does not exist yet is created from the panel, then started.
    expect(host.locator("#titleSave")).to_have_text("Create room")
    host.fill("#titleInput", "Mug madness")
    host.click("#titleSave")
    expect(host.locator("#statusBadge")).to_have_text("scheduled")
    host.click("#startBtn")
    expect(host.locator("#statusBadge")).to_have_text("live")
    expect(host.locator("#net")).to_have_attribute("data-status", "online")

    ann = open_player(browser, server, room, "Ann")
    ben = open_player(browser, server, room, "Ben")
    try:
        expect(ann.locator("#roomTitle")).to_have_text("Mug madness")
        expect(ann.locator("#product")).to_be_hidden()

        # The product goes into the room's bag first; the flash sale is made from it.
        host.click("#addProductBtn")
        host.fill("#prodId", "panda-mug")
        host.fill("#prodTitle", "Panda mug")
        host.fill("#prodPrice", "30")
        host.fill("#prodStock", "10")
        host.fill("#prodImage", "/static/img/panda-mug.svg")
        host.click("#productSave")
        expect(host.locator('#bagList li[data-product="panda-mug"]')).to_contain_text("10 / 10 left")

        # The pin form: bag product, stock, limit, tiers checked as the server checks them.
        host.select_option("#productSelect", "panda-mug")
        host.fill("#stock", "3")
        host.fill("#limit", "2")
        host.fill("#startsIn", "0")
        host.fill("#duration", "120")
        while host.locator(".tier-remove").count() > 2:
            host.locator(".tier-remove").last.click()
        host.locator(".tier-at").nth(0).fill("0")
        host.locator(".tier-price").nth(0).fill("25.00")
        host.locator(".tier-at").nth(1).fill("0")
        host.locator(".tier-price").nth(1).fill("20")
        expect(host.locator("#problems")).to_contain_text("higher than tier 1")
        expect(host.locator("#pinBtn")).to_be_disabled()
        host.locator(".tier-at").nth(1).fill("2")
        host.locator(".tier-price").nth(1).fill("26")
        expect(host.locator("#problems")).to_contain_text("must not be higher")
        host.locator(".tier-price").nth(1).fill("20.00")
        expect(host.locator("#problems li")).to_have_count(0)
        host.check("#protection")
        host.click("#pinBtn")
        expect(host.locator("#pinTitle")).to_have_text("Panda mug")
        expect(host.locator("#pinState")).to_have_text("live")

        for p in (ann, ben):
            expect(p.locator("#productTitle")).to_have_text("Panda mug")
            expect(p.locator("#priceNow")).to_have_text("¥25.00")
            expect(p.locator("#priceList")).to_have_text("¥30.00")
            expect(p.locator("#nextTier")).to_have_text("2 more posters to reach ¥20.00")
            expect(p.locator("#stock")).to_have_text("3 of 3 left")
            expect(p.locator("#countdown")).to_have_text(re.compile(r"Ends in [12]:\d\d"))
            expect(p.locator("#buy")).to_have_text("Buy now · ¥25.00")
            expect(p.locator("#productImg")).to_have_attribute("src", "/static/img/panda-mug.svg")

        # Ann buys before the crowd lowers the price: her order shows, and so does the stock on Ben's screen.
        ann.click("#buy")
        expect(ann.locator("#mine .order")).to_have_count(1)
        expect(ann.locator("#mine")).to_contain_text("1 × ¥25.00")
        expect(ann.locator("#buy")).to_have_text("Buy more · ¥25.00")
        expect(ben.locator("#stock")).to_have_text("2 of 3 left")

        # Two posters reach the second tier: the price falls on both screens.
        say(ann, "hi from Ann")
        expect(ben.locator("#nextTier")).to_have_text("1 more poster to reach ¥20.00")
        say(ben, "Ben here")
        expect(ann.locator("#bullets .bullet", has_text="Ben here")).to_have_count(1)
        for p in (ann, ben):
            expect(p.locator("#priceNow")).to_have_text("¥20.00")
            expect(p.locator("#nextTier")).to_have_text(re.compile("Lowest price reached"))
            expect(p.locator("#chat li.line:not(.sys)")).to_have_count(2)
            expect(p.locator("#chat li.sys", has_text="Price dropped to ¥20.00")).to_have_count(1)

        # Ann reaches her limit of 2; Ben takes the last one: sold out everywhere.
        ann.click("#buy")
        expect(ann.locator("#mine .order")).to_have_count(2)
        expect(ann.locator("#buy")).to_have_text("Limit reached (2/2)")
        expect(ann.locator("#buy")).to_be_disabled()
        ben.click("#buy")
        expect(ben.locator("#mine")).to_contain_text("1 × ¥20.00")
        expect(ben.locator("#buy")).to_have_text("Sold out · you got 1")
        expect(ann.locator("#stock")).to_have_text("None left")
        expect(host.locator("#pinState")).to_have_text("sold out")

        # The host sees the orders and the figures move.
        expect(host.locator("#orderRows tr[data-order]")).to_have_count(3)
        expect(host.locator("#fig-orders")).to_have_text("3")
        expect(host.locator("#fig-gmv")).to_have_text("¥65.00")
        expect(host.locator("#sub-orders")).to_have_text("3 units · 2 buyers")
        expect(host.locator("#fig-viewers")).to_have_text(re.compile(r"[23]"))
        expect(host.locator('.tile[data-key="orders"] svg polyline')).to_have_count(1)

        # The host deletes Ann's line from the panel's chat: it disappears from both players.
        expect(host.locator("#chat li", has_text="hi from Ann")).to_have_count(1)
        host.locator("#chat li", has_text="hi from Ann").locator('[data-act="delete"]').click()
        for p in (ann, ben):
            expect(p.locator("#chat li", has_text="hi from Ann")).to_have_count(0)
            expect(p.locator("#chat li", has_text="Ben here")).to_have_count(1)
        expect(host.locator("#chat li", has_text="hi from Ann")).to_have_count(0)

        # End the pin now: price protection owes Ann the difference on her first order.
        host.click("#endPinBtn")
        expect(host.locator("#pinState")).to_have_text("ended")
        expect(ann.locator("#buy")).to_have_text("Ended · you bought 2")
        expect(ann.locator(".refund")).to_have_text(
            "Price protection: the sale ended at ¥20.00, so ¥5.00 will be refunded to you."
        )
        expect(ben.locator(".refund")).to_have_text(
            "The sale ended at ¥20.00: you already paid the lowest price."
        )
        expect(host.locator("#orderRows tr[data-order] td:last-child", has_text="¥5.00")).to_have_count(1)
        expect(host.locator("#sub-gmv")).to_have_text("refunds owed ¥5.00")

        # CSV download (fetched with the Authorization header, saved from a blob).
        with host.expect_download() as download:
            host.click("#csvBtn")
        assert download.value.suggested_filename == f"{room}-orders.csv"
        text = Path(download.value.path()).read_text(encoding="utf-8")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert list(rows[0])[:3] == ["id", "pin", "user"]
        assert len(rows) == 3
        assert sorted(row["refund_cents"] for row in rows) == ["0", "0", "500"]
        no_js_errors(host, ann, ben)
    finally:
        close(host, ann, ben)
