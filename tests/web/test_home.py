"""The entrance as a home: "Starting soon" with a countdown and a "Remind me" that is the
server's (it holds after a reload), "Hosts I follow" with their next show, and the go-live
toast that /ws/me brings when a followed host starts a show."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.support import unique_room
from tests.web.contrast import low_contrast
from tests.web.pages import DESKTOP, PHONE, HostApi, close, new_page, no_js_errors

pytestmark = pytest.mark.timeout(120)

HOUR_MS = 3_600_000
SETTLED = """Promise.all(document.getAnimations()
    .filter((a) => a.effect?.getTiming().iterations !== Infinity).map((a) => a.finished))"""


def host_api(server, room: str, name: str) -> HostApi:
    """A host of a user id of its own (follows and followers stay this test's)."""
    api = HostApi(server, room, name=name)
    api.token = server.token("host", room, name=name, sub=unique_room(name.lower()))
    api.http.headers["Authorization"] = f"Bearer {api.token}"
    return api


def open_home(browser, server, name: str, viewport=PHONE):
    """The entrance, signed in as the player signs in (a dev token in the name picked)."""
    page = new_page(browser, viewport)
    page.goto(f"{server.url}/?name={name}")
    expect(page.locator("#me")).to_have_text(f"Signed in as {name}")
    expect(page.locator("body")).to_have_attribute("data-me", "online")  # /ws/me is open
    return page


def as_me(server, page, method: str, path: str) -> dict:
    token = page.evaluate("window.__home.me.token")
    r = httpx.request(method, server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_starting_soon_remind_me_and_the_hosts_i_follow(browser, server):
    room = unique_room("web-soon")
    api = host_api(server, room, "Kai")
    starts = int(time.time() * 1000) + HOUR_MS - 60_000
    api.call("PUT", "", {"title": "Tea time", "starts_at_ms": starts, "description": "Oolong"}, status=201)
    host_id = api.call("GET", "")["room"]["host"]["id"]
    page = open_home(browser, server, "Noa")
    try:
        item = page.locator(f'#soon li[data-room="{room}"]')
        expect(item.locator(".soon-title")).to_have_text("Tea time")
        expect(item.locator(".soon-host")).to_have_text("Kai")
        expect(item.locator(".soon-desc")).to_have_text("Oolong")
        expect(item.locator(".soon-when")).to_have_text(re.compile(r"^Starts in 5[89]:\d\d$"))
        expect(item.locator("a")).to_have_attribute("href", f"/watch/{room}")
        remind = item.locator(".remind")
        expect(remind).to_have_attribute("aria-pressed", "false")
        remind.click()
        expect(remind).to_have_attribute("aria-pressed", "true")
        expect(remind).to_have_text("✓ Reminder set")
        assert [r["id"] for r in as_me(server, page, "GET", "/api/me/reminders")["rooms"]] == [room]

        # Following Kai (as the player does): the home lists Kai with the next show.
        expect(page.locator("#followEmpty")).to_be_visible()
        as_me(server, page, "PUT", f"/api/follows/{host_id}")
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-me", "online")
        expect(item.locator(".remind")).to_have_attribute("aria-pressed", "true")  # the server's
        host = page.locator(f'#follows li[data-host="{host_id}"]')
        expect(host.locator(".host-name")).to_have_text("Kai")
        expect(host.locator(".host-followers")).to_have_text("1 follower")
        expect(host.locator(".host-next")).to_have_attribute("href", f"/watch/{room}")
        expect(host.locator(".host-next")).to_contain_text("Tea time")
        expect(host.locator(".next-when")).to_have_text(re.compile(r"^Starts in 5[89]:\d\d$"))
        assert low_contrast(page) == []

        item.locator(".remind").click()  # and off again
        expect(item.locator(".remind")).to_have_attribute("aria-pressed", "false")
        assert as_me(server, page, "GET", "/api/me/reminders")["rooms"] == []
        no_js_errors(page)
    finally:
        close(page)
        api.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_follower_on_the_home_page_gets_a_toast_when_the_host_goes_live(browser, server, viewport):
    room = unique_room("web-golive")
    api = host_api(server, room, "Lea")
    api.call("PUT", "", {"title": "Dumplings live"}, status=201)
    host_id = api.call("GET", "")["room"]["host"]["id"]
    page = open_home(browser, server, "Max", viewport)
    try:
        as_me(server, page, "PUT", f"/api/follows/{host_id}")
        expect(page.locator(".toast")).to_have_count(0)
        api.call("POST", "/start", status=200)
        toast = page.locator(f'.toast[data-room="{room}"]')
        expect(toast.locator(".toast-text")).to_have_text("Lea is live: Dumplings live")
        expect(toast.locator(".toast-go")).to_have_attribute("href", f"/watch/{room}")
        box = toast.bounding_box()
        size = page.viewport_size
        assert box and size, (box, size)
        assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], box
        assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"], box
        # The lists follow at once: Lea is live among the hosts I follow.
        host = page.locator(f'#follows li[data-host="{host_id}"]')
        expect(host.locator(".host-live")).to_have_attribute("href", f"/watch/{room}")
        page.evaluate(SETTLED)  # the toast slides in: judge its colours once it is there
        assert low_contrast(page) == []
        toast.locator(".toast-close").click()
        expect(toast).to_have_count(0)
        no_js_errors(page)
    finally:
        close(page)
        api.close()


# A stand-in for the Notification API: what the page asks and shows, and a tab not in focus.
FAKE_NOTIFICATIONS = """(() => {
  let permission = "default";
  window.__asked = 0;
  window.__notes = [];
  window.Notification = class {
    constructor(title, options) { window.__notes.push({ title, ...options }); }
    static get permission() { return permission; }
    static requestPermission() {
      window.__asked += 1;
      permission = "granted";
      return Promise.resolve(permission);
    }
  };
  document.hasFocus = () => false;
})();"""


def test_notifications_are_asked_for_on_a_click_and_shown_when_a_reminded_show_starts(browser, server):
    room = unique_room("web-notify")
    api = host_api(server, room, "Oda")
    starts = int(time.time() * 1000) + HOUR_MS
    api.call("PUT", "", {"title": "Noodle night", "starts_at_ms": starts}, status=201)
    page = new_page(browser, PHONE)
    page.add_init_script(FAKE_NOTIFICATIONS)
    try:
        page.goto(f"{server.url}/?name=Pam")
        expect(page.locator("body")).to_have_attribute("data-me", "online")
        remind = page.locator(f'#soon li[data-room="{room}"] .remind')
        expect(remind).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("window.__asked") == 0  # never on load
        remind.click()
        expect(remind).to_have_attribute("aria-pressed", "true")
        assert page.evaluate("window.__asked") == 1  # from the click

        api.call("POST", "/start", status=200)  # Pam follows nobody: the reminder brings it
        expect(page.locator(f'.toast[data-room="{room}"] .toast-text')).to_have_text(
            "Oda is live: Noodle night"
        )
        notes = page.evaluate("window.__notes")
        assert notes == [{"title": "Oda is live", "body": "Noodle night", "tag": f"live-{room}"}]
        no_js_errors(page)
    finally:
        close(page)
        api.close()
