"""The player on its own: every refusal told in words, an anonymous watcher, the sale countdown,
and a dropped connection that resumes without losing or repeating a line."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support import unique_room
from tests.web.pages import Chatter, HostApi, close, new_page, no_js_errors, open_player, say

pytestmark = pytest.mark.timeout(120)


def burst(page, *texts: str) -> None:
    """Post several lines from the page's own composer within one task (one network burst)."""
    page.evaluate(
        """(texts) => {
            const input = document.querySelector('#chatInput');
            for (const text of texts) {
                input.value = text;
                document.querySelector('#composer').requestSubmit();
            }
        }""",
        list(texts),
    )


def test_chat_refusals_are_told_in_words(browser, server):
    room = unique_room("web-err")
    api = HostApi(server, room)
    api.live_room()
    eve = open_player(browser, server, room, "Eve")
    try:
        # 5 posts per 10 s: six lines sent in one burst reach the server within milliseconds
        # of each other, so the sixth is refused whatever the machine's load.
        burst(eve, *(f"post {i}" for i in range(1, 7)))
        expect(eve.locator("#notice")).to_have_text(
            re.compile(r"^You're going too fast\. Try again in (10|[1-9]) s\.$")
        )
        for i in range(1, 6):
            expect(eve.locator("#chat li", has_text=f"post {i}")).to_have_count(1)
        expect(eve.locator("#chat li", has_text="post 6")).to_have_count(0)
        expect(eve.locator("#chatInput")).to_have_value("post 6")  # nothing typed is lost
        # Every answer reached its request: five acks, one refusal, nothing left waiting.
        eve.wait_for_function("window.__live.socket.pending.size === 0")
        no_js_errors(eve)
    finally:
        close(eve)
        api.close()


def test_a_repeated_line_is_refused_in_words(browser, server):
    room = unique_room("web-dup")
    api = HostApi(server, room)
    api.live_room()
    eve = open_player(browser, server, room, "Eve")
    try:
        say(eve, "same words")
        expect(eve.locator("#chat li", has_text="same words")).to_have_count(1)
        eve.wait_for_function("window.__live.socket.pending.size === 0")  # the ack arrived
        say(eve, "same words")
        expect(eve.locator("#notice")).to_have_text(re.compile("^You just sent that"))
        expect(eve.locator("#chat li", has_text="same words")).to_have_count(1)
        expect(eve.locator("#chatInput")).to_have_value("same words")
        no_js_errors(eve)
    finally:
        close(eve)
        api.close()


def test_a_line_posted_as_the_link_drops_is_never_called_unsent(browser, server):
    room = unique_room("web-ack")
    api = HostApi(server, room)
    api.live_room()
    page = open_player(browser, server, room, "Ada")
    try:
        say(page, "first line")
        expect(page.locator("#chat li", has_text="first line")).to_have_count(1)
        page.wait_for_function("window.__live.socket.pending.size === 0")
        # The post goes out and the socket drops in the same task: its ack is lost with it.
        page.evaluate(
            """() => {
                document.querySelector('#chatInput').value = 'sent as it dropped';
                document.querySelector('#composer').requestSubmit();
                window.__live.drop();
            }"""
        )
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        expect(page.locator("#chat li", has_text="sent as it dropped")).to_have_count(1)
        page.wait_for_function("window.__live.socket.pending.size === 0")
        expect(page.locator("#chatInput")).to_have_value("")  # not put back to be posted twice
        expect(page.locator("#notice")).not_to_contain_text("not sent")
        say(page, "after the drop")
        expect(page.locator("#chat li", has_text="after the drop")).to_have_count(1)
        page.wait_for_function("window.__live.socket.pending.size === 0")
        texts = page.locator("#chat li.line .text").all_inner_texts()
        assert texts == ["first line", "sent as it dropped", "after the drop"], texts
        no_js_errors(page)
    finally:
        close(page)
        api.close()


def test_an_order_made_elsewhere_counts_toward_the_limit_and_a_fragment_token_is_used(browser, server):
    room = unique_room("web-limit")
    api = HostApi(server, room)
    api.live_room()
    pin = api.pin(limit_per_user=1)
    # The same person bought on another device first.
    other_device = Chatter(server, room, "Flo", sub="flo")
    assert other_device.buy(pin["id"])["t"] == "ack"
    page = new_page(browser)
    try:
        token = server.token("viewer", None, name="Flo", sub="flo")
        page.goto(f"{server.url}/watch/{room}#token={token}")
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        assert "token=" not in page.url  # the token does not stay in the address bar
        expect(page.locator("#nameBtn")).to_be_hidden()  # names are chosen in dev mode only
        # My orders are the server's (GET /api/me/orders): the other device's order is known at
        # once, so the button says so before any tap.
        expect(page.locator("#buy")).to_have_text("Limit reached (1/1)")
        expect(page.locator("#buy")).to_be_disabled()
        expect(page.locator("#mine .order")).to_have_count(1)
        page.click("#buy", force=True)  # aria-disabled: a tap sends nothing
        expect(page.locator("#mine .order")).to_have_count(1)
    finally:
        other_device.close()
        close(page)
        api.close()


def test_anonymous_watcher_sees_the_room_but_is_told_to_sign_in(browser, server):
    room = unique_room("web-anon")
    api = HostApi(server, room)
    api.live_room("Anon show")
    api.pin()
    page = new_page(browser)
    # A server without --dev answers 404 here: the page then watches without a token.
    page.route(
        "**/api/dev/token",
        lambda route: route.fulfill(
            status=404, content_type="application/json", body='{"error":"not_found","message":"not found"}'
        ),
    )
    gil = Chatter(server, room, "Gil")
    try:
        page.goto(f"{server.url}/watch/{room}")
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        expect(page.locator("#chatInput")).to_have_attribute("placeholder", "Sign in to chat")
        expect(page.locator("#productTitle")).to_have_text("Panda mug")
        gil.say("hello anonymous")
        expect(page.locator("#chat li", has_text="hello anonymous")).to_have_count(1)
        say(page, "can I talk?")  # goes to the server, which answers `unauthorized`
        expect(page.locator("#notice")).to_have_text(
            "You're watching without signing in. Open your sign-in link to chat, like and buy."
        )
        page.click("#buy")
        expect(page.locator("#notice")).to_contain_text("without signing in")
        expect(page.locator("#chat li", has_text="can I talk?")).to_have_count(0)
    finally:
        gil.close()
        close(page)
        api.close()


def test_countdown_to_the_start_then_buy_and_end(browser, server):
    room = unique_room("web-clock")
    api = HostApi(server, room)
    api.live_room()
    api.pin(
        starts_in_s=3,
        duration_s=4,
        count="posts",
        tiers=[{"at": 0, "price_cents": 2500}, {"at": 3, "price_cents": 1800}],
    )
    page = open_player(browser, server, room, "Hal")
    try:
        expect(page.locator("#product")).to_have_attribute("data-state", "upcoming")
        expect(page.locator("#buy")).to_have_text(re.compile(r"^Starts in 0:0[1-3]$"))
        expect(page.locator("#buy")).to_be_disabled()
        expect(page.locator("#countdown")).to_have_text("")  # the button says it, once
        expect(page.locator("#nextTier")).to_have_text("3 more posts to reach ¥18.00")  # count mode posts
        # The pin goes live by itself, then ends by itself.
        expect(page.locator("#buy")).to_have_text("Buy now · ¥25.00", timeout=6000)
        expect(page.locator("#countdown")).to_have_text(re.compile(r"^Ends in 0:0[1-4]$"))
        expect(page.locator("#buy")).to_have_text("Sale ended", timeout=8000)
        expect(page.locator("#countdown")).to_have_text("Sale over")
        no_js_errors(page)
    finally:
        close(page)
        api.close()


def test_dropped_connection_resumes_without_losing_or_repeating_a_line(browser, server):
    room = unique_room("web-resume")
    api = HostApi(server, room)
    api.live_room()
    page = new_page(browser)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    gus = Chatter(server, room, "Gus")
    hugo = Chatter(server, room, "Hugo")  # each person may post 5 lines in 10 s
    try:
        gus.say("before 1")
        page.goto(f"{server.url}/watch/{room}?name=Ivy")
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        gus.say("before 2")
        expect(page.locator("#chat li.line")).to_have_count(2)

        # The network goes away and the socket with it; three lines are posted meanwhile.
        page.context.set_offline(True)
        page.evaluate("window.__live.drop()")
        expect(page.locator("#net")).to_have_text("Connection lost. Reconnecting…")
        last_seen = page.evaluate("window.__live.socket.lastSeq")
        away = [gus.say(f"while away {i}") for i in (1, 2, 3)]
        assert away[0] == last_seen + 1
        page.wait_for_timeout(1500)  # reconnect attempts fail while offline
        expect(page.locator("#chat li", has_text="while away")).to_have_count(0)

        page.context.set_offline(False)
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        expect(page.locator("#net")).to_be_hidden()
        hugo.say("after")
        expect(page.locator("#chat li", has_text="after")).to_have_count(1)
        texts = page.locator("#chat li.line .text").all_inner_texts()
        assert texts == ["before 1", "before 2", "while away 1", "while away 2", "while away 3", "after"]
        assert sockets[-1].endswith(f"since={last_seen}"), sockets
        connects = page.evaluate("window.__live.socket.connects")
        assert connects[0] == {"since": None, "resumed": False}
        assert connects[-1] == {"since": last_seen, "resumed": True}
        no_js_errors(page)
    finally:
        gus.close()
        hugo.close()
        close(page)
        api.close()
