"""Accessibility and small screens: WCAG AA contrast on every page, the keyboard focus kept
after Buy, and a 320 px phone on which the card holds together and the chat still shows."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support import unique_room
from tests.web.contrast import low_contrast
from tests.web.pages import (
    DESKTOP,
    HOST_LAPTOP,
    PHONE,
    SMALL_PHONE,
    Chatter,
    HostApi,
    close,
    new_page,
    no_js_errors,
    open_host,
    open_player,
    say,
)

pytestmark = pytest.mark.timeout(150)


def assert_contrast(page: Page, where: str) -> None:
    problems = low_contrast(page)
    assert problems == [], f"{where}: " + "\n".join(map(str, problems))


def busy_room(server, room: str) -> tuple[HostApi, dict, list[Chatter]]:
    """A live room with a pin, chat from the crowd and the host, and an order."""
    api = HostApi(server, room)
    api.live_room("Contrast show")
    pin = api.pin(limit_per_user=3)
    crowd = [Chatter(server, room, "Lin"), Chatter(server, room, "Mo")]
    crowd[0].say("Is the mug dishwasher safe?")
    crowd[1].say("Love the panda")
    assert crowd[1].buy(pin["id"])["t"] == "ack"
    return api, pin, crowd


def test_every_page_meets_wcag_aa_contrast(browser, server):
    room = unique_room("web-contrast")
    api, pin, crowd = busy_room(server, room)
    pages: list[Page] = []
    try:
        phone = open_player(browser, server, room, "Nia", PHONE)
        pages.append(phone)
        expect(phone.locator("#product")).to_be_visible()
        phone.click("#buy")
        expect(phone.locator("#mine .order")).to_have_count(1)
        expect(phone.locator("#notice")).to_be_visible()
        say(phone, "my own line")
        expect(phone.locator("#chat li.mine")).to_have_count(1)
        assert_contrast(phone, "player, phone")
        phone.tap("#productToggle")  # the ladder, the tier labels, the stock
        expect(phone.locator("#ladder")).to_be_visible()
        assert_contrast(phone, "player, phone, card open")
        phone.fill("#chatInput", "z" * 201)
        expect(phone.locator("#chatCount")).to_be_visible()
        assert_contrast(phone, "player, phone, too long")

        desk = open_player(browser, server, room, "Oto", DESKTOP)
        pages.append(desk)
        expect(desk.locator("#chat li.line")).to_have_count(3)
        assert_contrast(desk, "player, desktop")

        host = open_host(browser, server, room, viewport=HOST_LAPTOP)
        pages.append(host)
        expect(host.locator("#net")).to_have_attribute("data-status", "online")
        expect(host.locator("#orderRows tr[data-order]")).to_have_count(2)
        expect(host.locator("#fig-orders")).to_have_text("2")
        assert_contrast(host, "host panel")

        lobby = new_page(browser, DESKTOP)
        pages.append(lobby)
        lobby.goto(server.url + "/")
        expect(lobby.locator(f'li.room[data-room="{room}"]')).to_be_visible()
        assert_contrast(lobby, "entrance")

        # The end of the sale: the folded card and what it says about the refund.
        api.call("DELETE", f"/pins/{pin['id']}", status=200)
        expect(phone.locator("#product")).to_have_attribute("data-state", "ended")
        expect(phone.locator("#mine .refund")).to_be_visible()
        assert_contrast(phone, "player, phone, sale ended")
        no_js_errors(*pages)
    finally:
        for person in crowd:
            person.close()
        close(*pages)
        api.close()


def test_focus_stays_on_buy_after_buying(browser, server):
    room = unique_room("web-focus")
    api = HostApi(server, room)
    api.live_room()
    api.pin(limit_per_user=2)
    page = open_player(browser, server, room, "Uma", DESKTOP)
    try:
        expect(page.locator("#buy")).to_have_text("Buy now · ¥25.00")
        page.focus("#buy")
        page.keyboard.press("Enter")
        expect(page.locator("#mine .order")).to_have_count(1)
        expect(page.locator("#buy")).to_be_focused()  # "Buying…" did not throw the focus away
        expect(page.locator("#buy")).to_have_text("Buy more · ¥25.00")
        page.keyboard.press("Enter")  # the second reaches the limit: the button is disabled
        expect(page.locator("#mine .order")).to_have_count(2)
        expect(page.locator("#buy")).to_have_text("Limit reached (2/2)")
        expect(page.locator("#buy")).to_be_disabled()
        expect(page.locator("#buy")).to_be_focused()
        page.keyboard.press("Enter")  # a disabled button does nothing
        expect(page.locator("#mine .order")).to_have_count(2)
        no_js_errors(page)
    finally:
        close(page)
        api.close()


def test_a_320_px_phone_keeps_the_card_whole_and_shows_the_chat(browser, server):
    room = unique_room("web-320")
    api = HostApi(server, room)
    api.live_room()
    api.pin(
        product={
            "id": "mug-2",
            "title": "Panda mug, hand-painted ceramic, large",
            "list_price_cents": 129900,
            "image_url": "/static/img/panda-mug.svg",
        },
        tiers=[{"at": 0, "price_cents": 99900}, {"at": 5, "price_cents": 89900}],
    )
    people = [Chatter(server, room, f"Pal{i}") for i in range(2)]
    for i in range(3):
        for n, person in enumerate(people):
            person.say(f"line {i} from pal {n}")
    page = open_player(browser, server, room, "Vic", SMALL_PHONE)
    try:
        expect(page.locator("#chat li.line")).to_have_count(6)
        card = page.evaluate("document.querySelector('#product').getBoundingClientRect().toJSON()")
        badge = page.evaluate("document.querySelector('#priceOff').getBoundingClientRect().toJSON()")
        assert badge["right"] <= card["right"] - 4, (badge, card)  # the badge stays in the card
        buy = page.locator("#buy")
        expect(buy).to_have_text("Buy now · ¥999.00")
        assert buy.evaluate("(b) => b.scrollWidth <= b.clientWidth"), "the buy label is cut"
        height = buy.evaluate("(b) => b.getBoundingClientRect().height")
        assert height <= 44, height  # one line, not two
        visible = page.evaluate(
            """() => { const list = document.querySelector('#chat').getBoundingClientRect();
                return [...document.querySelectorAll('#chat li')].filter((li) => {
                    const r = li.getBoundingClientRect();
                    return r.top >= list.top - 1 && r.bottom <= list.bottom + 1; }).length; }"""
        )
        assert visible >= 3, visible
        no_js_errors(page)
    finally:
        for person in people:
            person.close()
        close(page)
        api.close()


PLACEHOLDER_FITS = """() => {
    const input = document.querySelector('#chatInput');
    const cs = getComputedStyle(input);
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const room = input.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    return [ctx.measureText(input.placeholder).width, room, input.placeholder];
}"""


@pytest.mark.parametrize("viewport", [PHONE, SMALL_PHONE], ids=["390", "320"])
def test_the_muted_placeholder_fits_the_input(browser, server, viewport):
    room = unique_room("web-mutedph")
    api = HostApi(server, room)
    api.live_room()
    page = open_player(browser, server, room, "Wes", viewport)
    try:
        me = page.evaluate("window.__live.state.me.id")
        api.call("POST", "/moderation", {"action": "mute", "user": me, "seconds": 600}, status=200)
        expect(page.locator("#chatInput")).to_be_disabled()
        width, room_px, text = page.evaluate(PLACEHOLDER_FITS)
        assert text.startswith("Muted until"), text
        assert width <= room_px, (width, room_px, text)
        no_js_errors(page)
    finally:
        close(page)
        api.close()
