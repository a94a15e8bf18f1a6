"""Moderation from the panel's own chat: a muted viewer is told why and until when, slow mode
is explained, a banned viewer is told so."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support import unique_room
from tests.web.pages import HostApi, close, no_js_errors, open_host, open_player, say

pytestmark = pytest.mark.timeout(120)


def test_mute_slow_mode_and_ban_from_the_panel(browser, server):
    room = unique_room("web-mod")
    api = HostApi(server, room)
    api.live_room("Mod show")
    host = open_host(browser, server, room)
    cid = open_player(browser, server, room, "Cid")
    dee = open_player(browser, server, room, "Dee")
    try:
        expect(host.locator("#net")).to_have_attribute("data-status", "online")
        say(cid, "first!")
        line = host.locator("#chat li", has_text="first!")
        expect(line).to_have_count(1)

        # Mute Cid for 10 minutes from his line in the panel.
        host.select_option("#muteMinutes", "10")
        line.locator('[data-act="mute"]').click()
        expect(cid.locator("#chatInput")).to_be_disabled()
        expect(cid.locator("#chatInput")).to_have_attribute(
            "placeholder", re.compile(r"^Muted until \d\d:\d\d$")
        )
        expect(cid.locator("#notice")).to_contain_text("The host muted you until")
        left_s = cid.evaluate("(window.__live.state.mutedUntil - Date.now()) / 1000")
        assert 590 <= left_s <= 600, left_s
        expect(host.locator("#moderated")).to_contain_text("Muted: Cid")
        expect(dee.locator("#chatInput")).to_be_enabled()

        # After a reload the mute comes back from hello.you.muted_until_ms.
        cid.reload()
        expect(cid.locator("body")).to_have_attribute("data-net", "online")
        expect(cid.locator("#chatInput")).to_be_disabled()
        expect(cid.locator("#chatInput")).to_have_attribute("placeholder", re.compile("^Muted until"))

        # A client that sends anyway gets the server's `muted`, shown in words with the time.
        cid.evaluate(
            "window.__live.state.mutedUntil = 0;"
            "document.querySelector('#chatInput').disabled = false;"
            "document.querySelector('#send').disabled = false"
        )
        say(cid, "am I muted?")
        expect(cid.locator("#notice")).to_have_text(re.compile(r"^You are muted until \d\d:\d\d:\d\d\.$"))
        expect(host.locator("#chat li", has_text="am I muted?")).to_have_count(0)

        # Slow mode: viewers are told, and a second post within the window says how long to wait.
        host.select_option("#slowSelect", "10")
        expect(dee.locator("#chatInput")).to_have_attribute("placeholder", "Slow mode: every 10 s")
        expect(dee.locator("#chat li.sys", has_text="Slow mode on: one post every 10 s.")).to_have_count(1)
        say(dee, "number one")
        expect(dee.locator("#chat li", has_text="number one")).to_have_count(1)
        say(dee, "number two")
        expect(dee.locator("#notice")).to_have_text(
            re.compile(r"^Slow mode is on: you can post again in (10|[1-9]) s\.$")
        )
        expect(dee.locator("#chatInput")).to_have_value("number two")

        # Ban Dee (two clicks): she is told, and cannot chat any more.
        ban = host.locator("#chat li", has_text="number one").locator('[data-act="ban"]')
        ban.click()
        expect(ban).to_have_text("Sure?")
        ban.click()
        expect(dee.locator("#posterText")).to_have_text("You have been banned from this room.")
        # Her posts were all answered before: nothing says "not sent" over the ban.
        expect(dee.locator("#notice")).to_have_text("You have been banned from this room.")
        expect(dee.locator("#chatInput")).to_be_disabled()
        expect(host.locator("#moderated")).to_contain_text("Banned: Dee")
        dee.reload()
        expect(dee.locator("#posterText")).to_have_text("You have been banned from this room.")
        no_js_errors(host, cid)
    finally:
        close(host, cid, dee)
        api.close()
