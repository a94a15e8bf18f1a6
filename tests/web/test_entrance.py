"""The entrance lists live rooms with their viewers; in dev mode it starts a demo side by side."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support import unique_room
from tests.web.pages import DESKTOP, HostApi, close, new_page, no_js_errors, open_player, say

pytestmark = pytest.mark.timeout(120)


def test_entrance_lists_a_live_room_with_its_viewers_and_drops_it_when_it_ends(browser, server):
    room = unique_room("web-lobby")
    api = HostApi(server, room)
    api.live_room("Lobby test show")
    viewer = open_player(browser, server, room, "Joy")
    page = new_page(browser, DESKTOP)
    try:
        page.goto(server.url + "/")
        card = page.locator(f'li.room[data-room="{room}"]')
        expect(card).to_contain_text("Lobby test show")
        expect(card).to_contain_text("Hana")
        expect(card.locator(".n")).to_have_text("1")  # Joy is watching (the list refreshes every 5 s)
        card.locator("a").click()
        expect(page).to_have_url(re.compile(f"/watch/{room}$"))
        expect(page.locator("#roomTitle")).to_have_text("Lobby test show")

        api.call("POST", "/stop", status=200)
        expect(page.locator("#statusBadge")).to_have_text("ENDED")  # the player hears it too
        expect(page.locator("#posterText")).to_have_text("The show has ended. Thanks for watching!")
        replay = page.locator("#posterReplay")
        expect(replay).to_be_visible()  # the ended show keeps selling in its replay
        expect(replay).to_have_attribute("href", f"/replay/{room}")
        page.goto(server.url + "/")
        expect(page.locator("body")).to_have_attribute("data-loaded", "1")
        expect(page.locator(f'li.room[data-room="{room}"]')).to_have_count(0)
        no_js_errors(page)
    finally:
        close(viewer, page)
        api.close()


def test_dev_demo_opens_the_panel_and_a_player_side_by_side(browser, server):
    page = new_page(browser, DESKTOP)
    try:
        page.goto(server.url + "/")
        page.click("#demoBtn")
        expect(page.locator("#split")).to_be_visible()
        room = page.locator("#splitTitle").inner_text()
        assert re.fullmatch(r"demo-[0-9a-f]{6}", room), room
        panel = page.frame_locator("#hostFrame")
        player = page.frame_locator("#watchFrame")
        expect(panel.locator("#statusBadge")).to_have_text("live")
        expect(panel.locator("#pinTitle")).to_have_text("Panda mug")
        expect(player.locator("#productTitle")).to_have_text("Panda mug")
        expect(player.locator("#nameBtn")).to_have_text("Viewer")
        player.locator("#chatInput").fill("hello from the demo")
        player.locator("#chatInput").press("Enter")
        expect(panel.locator("#chat li", has_text="hello from the demo")).to_have_count(1)
        expect(panel.locator("#pinCount")).to_have_text("1 posters")
        no_js_errors(page)
    finally:
        close(page)


def test_player_lets_a_dev_viewer_change_name(browser, server):
    room = unique_room("web-name")
    api = HostApi(server, room)
    api.live_room()
    page = open_player(browser, server, room, "Kim")
    try:
        say(page, "as Kim")
        expect(page.locator("#chat li.mine", has_text="as Kim")).to_have_count(1)
        page.click("#nameBtn")
        page.fill("#nameInput", "Kimberly")
        page.click("#nameForm button[type=submit]")
        expect(page.locator("#nameBtn")).to_have_text("Kimberly")
        say(page, "as Kimberly")
        expect(page.locator("#chat li.mine", has_text="as Kimberly").locator(".who")).to_have_text("Kimberly")
        expect(page.locator("#chat li.line")).to_have_count(2)  # the reconnect repeats nothing
        page.reload()
        expect(page.locator("#nameBtn")).to_have_text("Kimberly")  # kept in localStorage
    finally:
        close(page)
        api.close()


def test_long_titles_are_whole_and_rooms_nobody_watches_come_last_and_compact(browser, server):
    stem = unique_room("web-order")
    watched = HostApi(server, f"{stem}-a")
    title = "Spring tea tasting with the growers, live from the hills: six teas, one pot each"
    watched.live_room(title)
    quiet = [HostApi(server, f"{stem}-q{i}") for i in range(3)]
    for api in quiet:
        api.live_room("Demo: flash sale")
    viewer = open_player(browser, server, f"{stem}-a", "Lou")
    page = new_page(browser, DESKTOP)
    try:
        page.goto(server.url + "/")
        card = page.locator(f'li.room[data-room="{stem}-a"]')
        expect(card.locator(".n")).to_have_text("1")
        expect(card.locator(".room-title")).to_have_text(title)
        whole = card.locator(".room-title").evaluate(
            "(t) => t.scrollWidth <= t.clientWidth && t.scrollHeight <= t.clientHeight"
        )
        assert whole, "the title is cut"
        for api in quiet:
            row = page.locator(f'#quiet li.room-quiet[data-room="{api.room}"]')
            expect(row).to_be_visible()
            expect(page.locator(f'#rooms li[data-room="{api.room}"]')).to_have_count(0)
            assert row.evaluate("(r) => r.getBoundingClientRect().height") <= 40  # compact
        # The quiet list comes after every watched card.
        order = page.evaluate(
            """(ids) => ids.map((id) => document.querySelector(`[data-room="${id}"]`))
                .map((node) => node.compareDocumentPosition(document.querySelector('#rooms')))""",
            [api.room for api in quiet],
        )
        assert all(pos & 2 for pos in order), order  # #rooms precedes each quiet row
        no_js_errors(page)
    finally:
        close(viewer, page)
        watched.close()
        for api in quiet:
            api.close()
