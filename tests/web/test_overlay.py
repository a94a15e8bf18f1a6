"""On a phone the overlay leaves the video in view: a compact, opaque product card that opens
on a tap and folds away when the sale ends, a bullet screen of a few lanes that the viewer can
turn off, whose bullets never overtake one another nor run under the sound button."""

from __future__ import annotations

import itertools

import pytest
from playwright.sync_api import expect

from tests.support import unique_room
from tests.web.pages import PHONE, Chatter, HostApi, close, no_js_errors, open_player

pytestmark = pytest.mark.timeout(120)

BOX = """(sel) => {
    const r = document.querySelector(sel).getBoundingClientRect();
    return [r.top, r.bottom, r.height];
}"""

# Every bullet on screen, from its running animation: lane, left edge now, width, speed
# (px per ms, negative: right to left) and time left.
BULLETS = """() => [...document.querySelectorAll('#bullets .bullet')].map((node) => {
    const anim = node.getAnimations()[0];
    const frames = anim.effect.getKeyframes();
    const x = (f) => Number(/translateX\\((-?[\\d.]+)px\\)/.exec(f.transform)[1]);
    const duration = anim.effect.getTiming().duration;
    const t = anim.currentTime || 0;
    const speed = (x(frames[1]) - x(frames[0])) / duration;
    return {lane: node.style.top, left: x(frames[0]) + speed * t, width: node.offsetWidth,
            speed, left_ms: duration - t, text: node.textContent,
            rect: node.getBoundingClientRect().toJSON()};
})"""


def test_the_phone_card_is_compact_opens_on_a_tap_and_folds_when_the_sale_ends(browser, server):
    room = unique_room("web-card")
    api = HostApi(server, room)
    api.live_room()
    pin = api.pin()
    page = open_player(browser, server, room, "Rae", PHONE)
    try:
        card = page.locator("#product")
        expect(card).to_be_visible()
        expect(page.locator("#buy")).to_be_visible()
        expect(page.locator("#ladder")).to_be_hidden()  # the details wait for a tap
        top, _bottom, height = page.evaluate(BOX, "#product")
        assert height <= 140, height
        assert top >= PHONE["height"] * 0.5, top  # the middle of the screen is the video's
        background = page.evaluate("getComputedStyle(document.querySelector('#product')).backgroundColor")
        assert background == "rgb(255, 255, 255)", background  # opaque: no video through the price

        page.tap("#productTitle")
        expect(page.locator("#ladder")).to_be_visible()
        expect(page.locator("#productToggle")).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#stock")).to_have_text("10 of 10 left")
        page.tap("#productToggle")
        expect(page.locator("#ladder")).to_be_hidden()
        expect(page.locator("#productToggle")).to_have_attribute("aria-expanded", "false")

        page.tap("#productToggle")  # open, then the sale ends: the card folds to one line
        expect(page.locator("#ladder")).to_be_visible()
        api.call("DELETE", f"/pins/{pin['id']}", status=200)
        expect(card).to_have_attribute("data-state", "ended")
        expect(page.locator("#ladder")).to_be_hidden()
        expect(page.locator("#nextTier")).to_have_text("Final price ¥25.00 · 0 posters")
        _top, _bottom, height = page.evaluate(BOX, "#product")
        assert height <= 64, height
        no_js_errors(page)
    finally:
        close(page)
        api.close()


def test_bullets_keep_to_a_few_lanes_never_overtake_and_can_be_turned_off(browser, server):
    room = unique_room("web-bullets")
    api = HostApi(server, room)
    api.live_room()
    page = open_player(browser, server, room, "Sam", PHONE)
    people = [Chatter(server, room, f"Crowd{i}") for i in range(4)]
    try:
        # The sound button shows while the video plays muted; bullets must pass below it.
        page.evaluate("document.querySelector('#sound').hidden = false")
        # Short lines first, then long ones right behind them: a long line used to move
        # faster (same time to cross, longer way) and run into the short one ahead.
        for i, person in enumerate(people):
            person.say(f"hi {i}")
        for i, person in enumerate(people):
            person.say(f"a much, much longer line that crosses the whole screen, number {i}")
        page.wait_for_function("document.querySelectorAll('#bullets .bullet').length >= 4")
        bullets = page.evaluate(BULLETS)
        lanes = {b["lane"] for b in bullets}
        assert len(lanes) <= 3, lanes
        speeds = {round(b["speed"], 6) for b in bullets}
        assert len(speeds) == 1, speeds  # one speed for all: nobody catches up
        for lane in lanes:
            in_lane = sorted((b for b in bullets if b["lane"] == lane), key=lambda b: b["left"])
            for ahead, behind in itertools.pairwise(in_lane):
                # Now and when the one ahead leaves the screen, the one behind is behind it.
                for t in (0.0, ahead["left_ms"]):
                    gap = (behind["left"] + behind["speed"] * t) - (
                        ahead["left"] + ahead["speed"] * t + ahead["width"]
                    )
                    assert gap >= 0, (ahead["text"], behind["text"], t, gap)
        sound = page.evaluate("document.querySelector('#sound').getBoundingClientRect().toJSON()")
        layer = page.evaluate("document.querySelector('#bullets').getBoundingClientRect().toJSON()")
        assert layer["top"] >= sound["bottom"], (layer, sound)
        assert layer["bottom"] <= PHONE["height"] * 0.3, layer  # a band, not half the video

        # Turned off: no more bullets, and it stays off after a reload.
        page.tap("#bulletsBtn")
        expect(page.locator("#bulletsBtn")).to_have_attribute("aria-pressed", "false")
        expect(page.locator("#bullets .bullet")).to_have_count(0)
        people[0].say("no bullet for this one")
        expect(page.locator("#chat li", has_text="no bullet for this one")).to_have_count(1)
        expect(page.locator("#bullets .bullet")).to_have_count(0)
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        expect(page.locator("#bulletsBtn")).to_have_attribute("aria-pressed", "false")
        people[1].say("still no bullets")
        expect(page.locator("#chat li", has_text="still no bullets")).to_have_count(1)
        expect(page.locator("#bullets .bullet")).to_have_count(0)
        page.tap("#bulletsBtn")
        people[2].say("bullets are back")
        expect(page.locator("#bullets .bullet", has_text="bullets are back")).to_have_count(1)
        no_js_errors(page)
    finally:
        for person in people:
            person.close()
        close(page)
        api.close()
