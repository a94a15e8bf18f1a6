"""The host panel's orders as a host reads them at 1366 x 768: buyer names, product titles,
local time and money, a JSON download beside the CSV, and nothing cut off or overflowing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Route, expect

from tests.support import unique_room
from tests.web.pages import HOST_LAPTOP, Chatter, HostApi, close, no_js_errors, open_host

pytestmark = pytest.mark.timeout(120)

INSIDE = """(sel) => {
    const out = [];
    for (const card of document.querySelectorAll(sel)) {
        const box = card.getBoundingClientRect();
        for (const node of card.querySelectorAll('input, select, button, th, td')) {
            const r = node.getBoundingClientRect();
            if (r.width && (r.right > box.right + 0.5 || r.left < box.left - 0.5))
                out.push([node.id || node.textContent.slice(0, 20), r.left, r.right, box.right]);
        }
    }
    return out;
}"""


def test_orders_show_names_titles_local_time_and_money_and_fit(browser, server):
    room = unique_room("web-orders")
    api = HostApi(server, room)
    api.live_room()
    mug = api.pin(stock=20, limit_per_user=5)
    lin = Chatter(server, room, "Lin Wei", sub="lin")
    kai = Chatter(server, room, "Kai Long-Name", sub="kai")  # never chats: only the order names him
    lin.say("one for me")
    assert lin.buy(mug["id"], 2)["t"] == "ack"
    host = open_host(browser, server, room, viewport=HOST_LAPTOP)

    # Orders carry the buyer's display name (`name`); fill it in for a server that predates it.
    def with_names(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        names = {"lin": "Lin Wei", "kai": "Kai Long-Name"}
        for order in body["orders"]:
            order.setdefault("name", names.get(order["user"], order["user"]))
        route.fulfill(response=response, json=body)

    host.route(re.compile(r".*/api/rooms/[^/]+/orders$"), with_names)
    try:
        expect(host.locator("#net")).to_have_attribute("data-status", "online")
        cup = api.pin(
            id="cup-pin",
            product={"id": "cup-1", "title": "Bamboo cup", "list_price_cents": 1500},
            tiers=[{"at": 0, "price_cents": 1200}],
        )
        expect(host.locator("#pinTitle")).to_have_text("Bamboo cup")
        assert kai.buy(cup["id"], 1)["t"] == "ack"
        rows = host.locator("#orderRows tr[data-order]")
        expect(rows).to_have_count(2)
        newest, oldest = rows.nth(0), rows.nth(1)
        expect(newest.locator("td.buyer")).to_have_text("Kai Long-Name")
        expect(newest.locator("td.product")).to_have_text("Bamboo cup")
        expect(newest.locator("td").nth(3)).to_have_text("1 × ¥12.00")
        expect(oldest.locator("td.buyer")).to_have_text("Lin Wei")
        expect(oldest.locator("td.product")).to_have_text("Panda mug")  # an earlier pin's title
        expect(oldest.locator("td").nth(3)).to_have_text("2 × ¥25.00")
        expect(oldest.locator("td").nth(4)).to_have_text("¥50.00")
        expect(oldest.locator("td").nth(0)).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
        shown, local = oldest.evaluate(
            """(row) => { const t = row.querySelector('time');
                return [t.textContent, new Date(t.dateTime).toLocaleTimeString([], {hour12: false})]; }"""
        )
        assert shown == local, (shown, local)  # the browser's own time zone

        # Nothing is cut off at 1366 x 768: the Refund column and every pin form field fit.
        assert host.evaluate(INSIDE, "#ordersCard .table-wrap") == []
        wrap = host.locator("#ordersCard .table-wrap")
        assert wrap.evaluate("(w) => w.scrollWidth <= w.clientWidth"), "the table scrolls sideways"
        assert host.evaluate(INSIDE, "#sellCard") == []

        with host.expect_download() as download:
            host.click("#jsonBtn")
        assert download.value.suggested_filename == f"{room}-orders.json"
        orders = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))["orders"]
        assert sorted(o["total_cents"] for o in orders) == [1200, 5000]
        no_js_errors(host)
    finally:
        lin.close()
        kai.close()
        close(host)
        api.close()
