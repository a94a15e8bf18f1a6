"""The player of a scheduled room is a preview (title, host and followers, description, a
countdown, "Remind me", the bag to look at) that turns into the live player by itself when
the host starts the show: no reload."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.support import unique_room
from tests.web.contrast import low_contrast
from tests.web.pages import DESKTOP, PHONE, HostApi, close, new_page, no_js_errors, open_player

pytestmark = pytest.mark.timeout(120)

HOUR_MS = 3_600_000


def host_api(server, room: str, name: str) -> HostApi:
    """A host of a user id of its own (follows and followers stay this test's)."""
    api = HostApi(server, room, name=name)
    api.token = server.token("host", room, name=name, sub=unique_room(name.lower()))
    api.http.headers["Authorization"] = f"Bearer {api.token}"
    return api


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_scheduled_room_is_a_preview_that_turns_live_by_itself(browser, server, viewport):
    room = unique_room("web-preview")
    api = host_api(server, room, "Pia")
    starts = int(time.time() * 1000) + HOUR_MS + 30_000
    api.call(
        "PUT",
        "",
        {"title": "Panda week", "starts_at_ms": starts, "description": "Mugs and tees\nat crowd prices"},
        status=201,
    )
    api.product("mug", title="Panda mug", list_price_cents=3000, stock=5, status=201)
    page = open_player(browser, server, room, "Rex", viewport)
    try:
        preview = page.locator("#preview")
        expect(preview).to_be_visible()
        expect(page.locator("#pvTitle")).to_have_text("Panda week")
        expect(page.locator("#pvHost")).to_have_text("Pia")
        expect(page.locator("#pvFollowers")).to_have_text("0 followers")
        expect(page.locator("#pvDesc")).to_have_text("Mugs and tees\nat crowd prices")
        expect(page.locator("#pvCountdown")).to_have_text(re.compile(r"^Starts in 1:00:\d\d$"))
        first = page.locator("#pvCountdown").inner_text()
        expect(page.locator("#pvCountdown")).not_to_have_text(first)  # it counts down
        expect(page.locator("#pvFollow")).to_have_text("Follow")
        expect(page.locator("#followBtn")).to_be_hidden()  # one Follow at a time
        if viewport is PHONE:  # from 900 px the bag is in the side column already
            expect(page.locator("#pvBag li[data-product='mug']")).to_contain_text("Panda mug")
            expect(page.locator("#pvBag li[data-product='mug']")).to_contain_text("¥30.00")
        expect(page.locator("#bagList li[data-product='mug'] .bag-buy")).to_have_text("Not live yet")
        # The preview leaves the chat and its input free, whole or scrolling.
        box = preview.bounding_box()
        composer = page.locator("#composer").bounding_box()
        assert box and composer, (box, composer)
        if viewport is PHONE:
            assert box["y"] + box["height"] <= composer["y"] - 100, (box, composer)

        remind = page.locator("#pvRemind")
        expect(remind).to_have_attribute("aria-pressed", "false")
        remind.click()
        expect(remind).to_have_attribute("aria-pressed", "true")
        expect(remind).to_have_text("✓ Reminder set")
        assert low_contrast(page) == []
        token = page.evaluate("window.__live.state.token")
        mine = httpx.get(
            f"{server.url}/api/me/reminders", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()
        assert [r["id"] for r in mine["rooms"]] == [room], mine
        page.reload()
        expect(page.locator("#pvRemind")).to_have_attribute("aria-pressed", "true")  # the server's

        # The host starts the show: the same page becomes the live player.
        page.evaluate("window.__sameDocument = true")
        api.call("POST", "/start", status=200)
        expect(preview).to_be_hidden()
        expect(page.locator("#statusBadge")).to_have_text("LIVE")
        expect(page.locator("#posterText")).to_have_text("Pia is live. Waiting for the camera…")
        expect(page.locator("#followBtn")).to_be_visible()
        expect(page.locator("#bagList li[data-product='mug'] .bag-buy")).to_have_text("Buy")
        assert page.evaluate("window.__sameDocument") is True  # no reload
        no_js_errors(page)
    finally:
        close(page)
        api.close()


def test_the_host_plans_the_show_from_the_panel(browser, server):
    room = unique_room("web-plan")
    api = host_api(server, room, "Uli")
    api.call("PUT", "", {"title": "Planned show"}, status=201)
    panel = new_page(browser, DESKTOP)
    try:
        panel.goto(f"{server.url}/host/{room}#token={api.token}")
        expect(panel.locator("#net")).to_have_attribute("data-status", "online")
        panel.fill("#startsAt", "2031-05-01T14:30")
        panel.fill("#description", "  Teapots and tea\nfrom Fujian  ")
        panel.fill("#commission", "60")  # above 50 %: said before anything is sent
        panel.click("#settingsSave")
        expect(panel.locator("#settingsNote")).to_contain_text("Commission is a percent from 0 to 50")
        expect(panel.locator("#commission")).to_have_attribute("aria-invalid", "true")
        panel.fill("#commission", "12.5")
        panel.click("#settingsSave")
        expect(panel.locator("#flash")).to_have_text("Show settings saved.")
        expect(panel.locator("#settingsNote")).to_contain_text("sharers earn 12.5 %")
        local_ms = panel.evaluate("new Date('2031-05-01T14:30').getTime()")  # the host's own time
        saved = api.call("GET", "")["room"]
        assert saved["starts_at_ms"] == local_ms, saved
        assert saved["description"] == "Teapots and tea\nfrom Fujian", saved
        assert saved["commission_bp"] == 1250, saved

        panel.reload()  # the form shows the server's values
        expect(panel.locator("#startsAt")).to_have_value("2031-05-01T14:30")
        expect(panel.locator("#commission")).to_have_value("12.5")
        expect(panel.locator("#description")).to_have_value("Teapots and tea\nfrom Fujian")
        panel.click("#startsClear")
        panel.click("#settingsSave")
        expect(panel.locator("#flash")).to_have_text("Show settings saved.")
        assert api.call("GET", "")["room"]["starts_at_ms"] is None
        no_js_errors(panel)
    finally:
        close(panel)
        api.close()
