"""Close codes carry their policy in the server's table (`GET /closecodes.js`), which every page
loads before client.js; without the table the client keeps today's values."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, Route, expect

from tests.support import unique_room
from tests.web.pages import close, new_page, no_js_errors

pytestmark = pytest.mark.timeout(120)

POLICIES = """async (table) => {
    const { closePolicy } = await import('/static/client.js');
    const codes = [1000, 1001, 1006, 4001, 4003, 4004, 4008, 4009, 4321];
    // null: no table at all (a server without the route), so the built-in fallback.
    return Object.fromEntries(codes.map((c) => [c, closePolicy(c, table)]));
}"""


def serve_table(page: Page, table: dict[str, object] | None) -> None:
    def handle(route: Route) -> None:
        if table is None:
            route.fulfill(status=404, content_type="application/json", body='{"error":"not_found"}')
        else:
            body = f"window.LIVE_CLOSE_CODES = {json.dumps(table)};"
            route.fulfill(status=200, content_type="text/javascript", body=body)

    page.route("**/closecodes.js", handle)


def test_every_page_loads_the_table_before_the_client(browser, server):
    page = new_page(browser)
    try:
        for path in ("/", f"/watch/{unique_room('web-cc')}", f"/host/{unique_room('web-cc')}"):
            page.goto(server.url + path)
            order = page.evaluate(
                "[...document.querySelectorAll('script')].map((s) => s.getAttribute('src'))"
            )
            assert order[0] == "/closecodes.js", (path, order)
            assert not page.evaluate("document.querySelector('script').type"), "a classic script runs first"
    finally:
        close(page)


def test_the_policy_comes_from_the_table_with_todays_values_as_fallback(browser, server):
    page = new_page(browser)
    try:
        page.goto(server.url + "/")
        fallback = page.evaluate(POLICIES, None)
        assert [fallback[str(c)]["reconnect"] for c in (4001, 4003, 4004)] == [False] * 3
        assert fallback["4009"] == {
            "name": "HISTORY_LOST",
            "reconnect": True,
            "resume": False,
            "backoff": True,
        }
        assert fallback["1006"]["reconnect"] and fallback["1006"]["resume"]
        table = {
            "4321": {"name": "SOMETHING_NEW", "reconnect": False, "resume": False},
            "4008": {"name": "TOO_SLOW", "reconnect": True, "resume": True},
            "1001": {"name": "GOING_AWAY", "reconnect": True, "resume": True, "backoff": False},
            "4004": {"name": "NO_SUCH_ROOM", "reconnect": False, "resume": False},
        }
        served = page.evaluate(POLICIES, table)
        assert served["4321"]["reconnect"] is False  # a code only the table knows is final
        assert served["1001"]["backoff"] is False  # the process went away: no backoff wait
        assert served["4008"]["resume"] is True
        assert served["4001"]["reconnect"] is True  # not in this table: reconnect and resume
    finally:
        close(page)


def test_the_socket_follows_the_served_table(browser, server):
    missing = unique_room("web-nosuch")  # never created: the server closes with 4004
    page = new_page(browser)
    try:
        # A table that says 4004 is worth retrying: the page keeps reconnecting.
        serve_table(page, {"4004": {"name": "NO_SUCH_ROOM", "reconnect": True, "resume": False}})
        page.goto(f"{server.url}/watch/{missing}?name=Cy")
        page.wait_for_function("window.__live && window.__live.socket.connects.length >= 2")
        assert page.evaluate("window.__live.socket.status") != "closed"
        assert page.evaluate("window.__live.socket.connects[1].since") is None  # resume: false
        page.unroute("**/closecodes.js")

        # No table (a server without the route): today's values, 4004 is final and told in words.
        other = new_page(browser)
        try:
            serve_table(other, None)
            other.goto(f"{server.url}/watch/{missing}?name=Cy")
            expect(other.locator("#posterText")).to_have_text("This room does not exist.")
            assert other.evaluate("window.__live.socket.connects.length") == 1
            no_js_errors(other)
        finally:
            close(other)
    finally:
        close(page)
