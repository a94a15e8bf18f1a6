"""The player's chat as people use it: it follows the newest line (also when the product card
takes room above it) unless the person scrolled up, it is read sensibly by a screen reader,
and the input says it is too long before anything is sent."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support import unique_room
from tests.web.pages import (
    LAPTOP,
    PHONE,
    WIDE,
    Chatter,
    HostApi,
    close,
    no_js_errors,
    open_player,
    say,
)

pytestmark = pytest.mark.timeout(120)

IN_VIEW = """(text) => {
    const list = document.querySelector('#chat');
    const line = [...list.querySelectorAll('li')].find((li) => li.textContent.includes(text));
    if (!line) return false;
    const a = list.getBoundingClientRect(), b = line.getBoundingClientRect();
    return b.top >= a.top - 1 && b.bottom <= a.bottom + 1 && b.height > 0;
}"""


def crowd_lines(server, room: str, n_people: int, per_person: int) -> list[Chatter]:
    """Lines from several people (each person may post 5 lines in 10 s)."""
    people = [Chatter(server, room, f"Fan{i}") for i in range(n_people)]
    for round_ in range(per_person):
        for i, person in enumerate(people):
            person.say(f"line {round_}-{i} from the crowd")
    return people


def in_view(page: Page, text: str) -> None:
    page.wait_for_function(IN_VIEW, arg=text)


@pytest.mark.parametrize("viewport", [WIDE, LAPTOP], ids=["1440", "1024"])
def test_desktop_chat_keeps_following_after_the_card_appears(browser, server, viewport):
    room = unique_room("web-follow")
    api = HostApi(server, room)
    api.live_room()
    people = crowd_lines(server, room, 5, 5)  # 25 lines: more than the list shows
    late = Chatter(server, room, "Late")
    people.append(late)
    page = open_player(browser, server, room, "Ola", viewport)
    try:
        expect(page.locator("#chat li.line")).to_have_count(25)
        in_view(page, "line 4-4 from the crowd")
        api.pin()  # the card takes the top of the column; the list shrinks under it
        expect(page.locator("#product")).to_be_visible()
        say(page, "my own line")
        in_view(page, "my own line")
        late.say("a line after mine")
        in_view(page, "a line after mine")
        expect(page.locator("#newLines")).to_be_hidden()

        # Scrolled up to read: new lines do not pull the list down, a button says they came.
        page.locator("#chat").hover()
        page.mouse.wheel(0, -2000)
        page.wait_for_function("document.querySelector('#chat').scrollTop === 0")
        late.say("while I read")
        expect(page.locator("#chat li", has_text="while I read")).to_have_count(1)
        expect(page.locator("#newLines")).to_be_visible()
        assert page.evaluate("document.querySelector('#chat').scrollTop") == 0
        page.click("#newLines")
        in_view(page, "while I read")
        expect(page.locator("#newLines")).to_be_hidden()
        late.say("following again")
        in_view(page, "following again")
        no_js_errors(page)
    finally:
        for person in people:
            person.close()
        close(page)
        api.close()


def test_chat_reads_name_then_words_and_only_news_is_announced(browser, server):
    room = unique_room("web-aria")
    api = HostApi(server, room)
    api.live_room()
    lin = Chatter(server, room, "Lin")
    page = open_player(browser, server, room, "Pia", PHONE)
    try:
        lin.say("hello there")
        line = page.locator("#chat li", has_text="hello there")
        expect(line).to_have_count(1)
        assert line.text_content() == "Lin: hello there"
        # The crowd's lines are not a live region (a screen reader would read every one).
        assert page.evaluate("document.querySelector('#chat').closest('[aria-live]')") is None
        api.pin(tiers=[{"at": 0, "price_cents": 2500}, {"at": 1, "price_cents": 2000}])
        say(page, "lower it")
        expect(page.locator("#announce")).to_have_text("Price dropped to ¥20.00")
        expect(page.locator("#announce")).to_have_attribute("aria-live", "polite")
        no_js_errors(page)
    finally:
        lin.close()
        close(page)
        api.close()


def test_the_input_says_too_long_before_sending(browser, server):
    room = unique_room("web-long")
    api = HostApi(server, room)
    api.live_room()
    page = open_player(browser, server, room, "Quin", PHONE)
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
    page.reload()  # so the socket opens with the listener in place
    expect(page.locator("body")).to_have_attribute("data-net", "online")
    try:
        page.fill("#chatInput", "y" * 190)
        expect(page.locator("#chatCount")).to_have_text("190/200")
        page.fill("#chatInput", "😀" * 200)  # 200 characters (400 UTF-16 units) is still fine
        expect(page.locator("#chatCount")).to_have_text("200/200")
        expect(page.locator("#send")).to_be_enabled()
        page.fill("#chatInput", "x" * 201)
        expect(page.locator("#chatCount")).to_have_text("201/200")
        expect(page.locator("#chatInput")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#send")).to_be_disabled()
        page.press("#chatInput", "Enter")
        expect(page.locator("#notice")).to_have_text("That message is too long: 200 characters at most.")
        expect(page.locator("#chatInput")).to_have_value("x" * 201)  # nothing typed is lost
        assert not [f for f in sent if '"t":"chat"' in f.replace(" ", "")], sent
        page.fill("#chatInput", "short again")
        expect(page.locator("#chatCount")).to_be_hidden()
        expect(page.locator("#send")).to_be_enabled()
        no_js_errors(page)
    finally:
        close(page)
        api.close()
