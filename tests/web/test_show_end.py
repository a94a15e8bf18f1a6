"""The end of a show and its sale as the pages tell it: an ended show ends its sale, a sold-out
card stops counting, "Starts in" is said once, and a room without a camera is asked for video
less and less often (and at once when something changes)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Route, expect

from tests.support import unique_room
from tests.web.pages import Chatter, HostApi, close, no_js_errors, open_host, open_player

pytestmark = pytest.mark.timeout(120)


def test_an_ended_show_ends_its_sale_on_both_pages(browser, server):
    room = unique_room("web-showend")
    api = HostApi(server, room)
    api.live_room()
    api.pin(duration_s=600)
    page = open_player(browser, server, room, "Xia")
    host = open_host(browser, server, room)
    try:
        expect(page.locator("#buy")).to_have_text("Buy now · ¥25.00")
        expect(host.locator("#pinState")).to_have_text("live")
        api.call("POST", "/stop", status=200)
        expect(page.locator("#statusBadge")).to_have_text("ENDED")
        expect(page.locator("#product")).to_have_attribute("data-state", "ended")
        expect(page.locator("#buy")).to_have_text("Sale ended")
        expect(page.locator("#buy")).to_be_disabled()
        expect(page.locator("#countdown")).to_have_text("Sale over")
        expect(host.locator("#pinState")).to_have_text("ended")
        expect(host.locator("#pinClock")).to_have_text("over")
        no_js_errors(page, host)
    finally:
        close(page, host)
        api.close()


def test_sold_out_stops_the_countdown_and_starts_in_is_said_once(browser, server):
    room = unique_room("web-soldout")
    api = HostApi(server, room)
    api.live_room()
    api.pin(id="later", starts_in_s=600, duration_s=600)  # upcoming for the whole check
    page = open_player(browser, server, room, "Yan")
    buyer = Chatter(server, room, "Zed")
    try:
        expect(page.locator("#product")).to_have_attribute("data-state", "upcoming")
        page.tap("#productToggle")  # everything the card has, open
        expect(page.locator("#ladder")).to_be_visible()
        expect(page.locator("#buy")).to_have_text(re.compile(r"^Starts in (9:59|10:00)$"))
        text = page.locator("#product").inner_text()
        assert text.count("Starts in") == 1, text

        pin = api.pin(id="now", stock=1, limit_per_user=1, duration_s=600)  # replaces it, live at once
        expect(page.locator("#product")).to_have_attribute("data-pin", "now")
        expect(page.locator("#countdown")).to_contain_text("Ends in")
        answer = buyer.buy(pin["id"])
        assert answer["t"] == "ack", answer
        expect(page.locator("#product")).to_have_attribute("data-state", "sold_out")
        expect(page.locator("#buy")).to_have_text("Sold out")
        expect(page.locator("#countdown")).to_have_text("")
        page.tap("#productToggle")  # a new pin starts compact: open it to read it all
        expect(page.locator("#ladder")).to_be_visible()
        assert "Ends in" not in page.locator("#product").inner_text()
        no_js_errors(page)
    finally:
        buyer.close()
        close(page)
        api.close()


def test_video_requests_back_off_while_nobody_publishes(browser, server):
    room = unique_room("web-backoff")
    api = HostApi(server, room)
    api.live_room()
    page = open_player(browser, server, room, "Abe")
    asked: list[str] = []
    # Nobody publishes: the server answers 409 (fulfilled here, so no camera can interfere).

    def nobody_publishes(route: Route) -> None:
        asked.append(route.request.method)
        route.fulfill(status=409, json={"error": "conflict", "message": "nobody publishes"})

    page.route(f"**/api/rooms/{room}/watch", nobody_publishes)
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-net", "online")
    try:
        page.wait_for_function("window.__live.video.log.filter((e) => e.reason).length >= 3")
        waits = page.evaluate("window.__live.video.log.filter((e) => e.wait).map((e) => e.wait)")
        assert waits[:2] == [2000, 4000], waits  # doubling (up to 60 s), not every 4 s
        assert page.evaluate("window.__live.video.log.filter((e) => e.reason)[0].reason") == "start"

        # A durable room event (here a new title) asks again at once, not after the wait.
        api.call("PUT", "", {"title": "Camera soon"}, status=200)
        expect(page.locator("#roomTitle")).to_have_text("Camera soon")
        page.wait_for_function("window.__live.video.log.some((e) => e.reason === 'room')")

        # So does the tab coming back into view.
        page.evaluate(
            """() => {
                Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
        page.wait_for_function("window.__live.video.log.some((e) => e.reason === 'visible')")
        assert len(asked) >= 4, asked
        no_js_errors(page)
    finally:
        close(page)
        api.close()
