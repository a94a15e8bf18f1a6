"""The replay page in Chromium (contract §12): the host panel publishes Chromium's fake camera
for a short show with a pin, a price drop and chat; after the show /replay/{room} plays the
recording, seeks where a moment is clicked, replays the chat in time and sells the bag.
Screenshots go to LIVE_SHOTS_DIR (docs/screenshots) as replay-*.png."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support import ServerProc, unique_room
from tests.web.contrast import low_contrast
from tests.web.pages import DESKTOP, PHONE, Chatter, HostApi, close, new_page, no_js_errors, shot

pytestmark = pytest.mark.timeout(180)

CURRENT_TIME = "document.querySelector('#video').currentTime"


@pytest.fixture(scope="module")
def show(browser: Browser, shared_server: ServerProc) -> Iterator[dict[str, Any]]:
    """A recorded show of about 12 s, over; its replay as the API gives it."""
    server = shared_server
    room = unique_room("web-replay")
    api = HostApi(server, room)
    api.live_room("Panda mug night")
    api.product(
        "mug", title="Panda mug", list_price_cents=3000, stock=4, image_url="/static/img/panda-mug.svg"
    )
    api.product("tee", title="Panda tee", list_price_cents=9900, stock=2, image_url="/static/img/tee.svg")
    host = new_page(browser, DESKTOP)
    fan = Chatter(server, room, "Mia")
    try:
        host.goto(f"{server.url}/host/{room}#token={api.token}")
        host.click("#camBtn")
        host.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        host.click("#publishBtn")
        expect(host.locator("#onAir")).to_be_visible(timeout=20_000)
        wait_for_recording(server, room)
        time.sleep(2)  # the show's own pace, not a wait for anything
        fan.say("hello from the start")
        pin = {
            "product_id": "mug",
            "stock": 2,
            "duration_s": 120,
            "tiers": [{"at": 0, "price_cents": 2500}, {"at": 2, "price_cents": 2000}],
            "count": "posts",
        }
        api.call("POST", "/pins", pin, status=201)
        time.sleep(2)
        fan.say("so cute")
        fan.say("cheaper?")  # the second post since the pin: the price drops
        time.sleep(3)
        fan.say("bought one!")
        time.sleep(3)
        api.call("POST", "/stop", status=200)
        replay = wait_for_replay(server, room)
    finally:
        fan.close()
        close(host)
    yield {"room": room, "replay": replay, "server": server}
    api.close()


def wait_for_recording(server: ServerProc, room: str) -> None:
    # The recording starts within half a second of the publish (live/recordings.py); its file's
    # zero is the first keyframe after that. Give it a comfortable margin on a loaded machine.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (server.data_dir / "recordings" / room).is_dir():
            return
        time.sleep(0.1)
    raise AssertionError("no recording started")


def wait_for_replay(server: ServerProc, room: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        replay = httpx.get(f"{server.url}/api/rooms/{room}/replay", timeout=10).json()
        if replay["video_url"]:
            return dict(replay)
        time.sleep(0.2)
    raise AssertionError(f"the recording was never finished: {replay}")


def open_replay(browser: Browser, show: dict[str, Any], viewport: Any = PHONE) -> Page:
    page = new_page(browser, viewport)
    page.goto(f"{show['server'].url}/replay/{show['room']}?name=Lee")
    expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    expect(page.locator("body")).to_have_attribute("data-chat-loaded", "1")
    return page


def test_the_replay_plays_and_a_moment_seeks_the_video_there(browser: Browser, show: dict[str, Any]) -> None:
    page = open_replay(browser, show)
    try:
        kinds = [m["kind"] for m in show["replay"]["moments"]]
        assert kinds[:2] == ["pin", "price"], kinds
        expect(page.locator(".chapter")).to_have_count(len(kinds))
        expect(page.locator(".chapter").nth(0)).to_contain_text("Panda mug · ¥25 · 0:0")
        expect(page.locator(".chapter").nth(1)).to_contain_text("Panda mug · ¥20 · 0:0")
        page.evaluate(
            "() => { const v = document.querySelector('#video'); v.muted = true; return v.play(); }"
        )
        page.wait_for_function(f"() => {CURRENT_TIME} > 1.0")  # it plays: time moves on

        price = show["replay"]["moments"][1]
        page.locator(".chapter[data-kind='price'] button").click()
        target = price["at_ms"] / 1000
        page.wait_for_function(f"() => Math.abs({CURRENT_TIME} - {target}) < 0.6")
        expect(page.locator(".chapter[data-kind='price']")).to_have_class("chapter current")
        # The chat shows what was said up to that moment, not what came after.
        expect(page.locator("#chat .rp-line").last).to_contain_text("cheaper?")
        assert "bought one!" not in page.locator("#chat").inner_text()

        page.locator(".chapter[data-kind='pin'] button").click()
        target = show["replay"]["moments"][0]["at_ms"] / 1000
        page.wait_for_function(f"() => Math.abs({CURRENT_TIME} - {target}) < 0.6")
        no_js_errors(page)
    finally:
        close(page)


def test_the_bag_stays_for_sale_in_the_replay(browser: Browser, show: dict[str, Any], tmp_path: Path) -> None:
    page = open_replay(browser, show)
    try:
        page.locator(".chapter[data-kind='price'] button").click()  # the chat up to the price drop
        expect(page.locator("#chat .rp-line").last).to_contain_text("cheaper?")
        page.evaluate("() => document.querySelector('#video').pause()")
        tee = page.locator(".rp-product[data-product='tee']")
        expect(tee).to_contain_text("¥99.00")
        expect(tee).to_contain_text("2 left")
        tee.locator("button").click()
        expect(page.locator("#notice")).to_have_text("Ordered: Panda tee for ¥99.00.")
        expect(tee).to_contain_text("1 left")  # the bag_stock event of my own buy
        shot(page, tmp_path, "replay-phone")
        problems = low_contrast(page)
        assert problems == [], "\n".join(map(str, problems))  # WCAG AA, as every page (test_a11y.py)
        no_js_errors(page)
    finally:
        close(page)


def test_the_entrance_links_an_ended_show_to_its_replay(
    browser: Browser, show: dict[str, Any], tmp_path: Path
) -> None:
    page = new_page(browser, PHONE)
    try:
        page.goto(show["server"].url + "/")
        link = page.locator(f".replay-item[data-room='{show['room']}'] a")
        expect(link).to_have_attribute("href", f"/replay/{show['room']}")
        shot(page, tmp_path, "replay-entrance-phone")
        link.click()
        expect(page.locator("#roomTitle")).to_have_text("Panda mug night")
        no_js_errors(page)
    finally:
        close(page)


def test_the_replay_on_a_wide_screen(browser: Browser, show: dict[str, Any], tmp_path: Path) -> None:
    page = open_replay(browser, show, DESKTOP)
    try:
        page.locator(".chapter[data-kind='price'] button").click()
        target = show["replay"]["moments"][1]["at_ms"] / 1000
        page.wait_for_function(f"() => Math.abs({CURRENT_TIME} - {target}) < 0.6")
        page.evaluate("() => document.querySelector('#video').pause()")
        page.wait_for_function("() => document.querySelector('#video').readyState >= 2")
        shot(page, tmp_path, "replay-desktop")
        no_js_errors(page)
    finally:
        close(page)
