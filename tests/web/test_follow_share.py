"""Follow and Share in real browsers: Follow beside the host's name (the count rises, it
holds after a reload, GET /api/follows lists the host), and a share link opened by someone
else whose order lands on the host panel's leaderboard with the commission in cents."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.support import unique_room
from tests.web.contrast import low_contrast
from tests.web.pages import DESKTOP, PHONE, HostApi, close, new_page, no_js_errors, open_player

pytestmark = pytest.mark.timeout(120)


def host_api(server, room: str, name: str) -> HostApi:
    """A host of a user id of its own (follows and followers stay this test's)."""
    api = HostApi(server, room, name=name)
    api.token = server.token("host", room, name=name, sub=unique_room(name.lower()))
    api.http.headers["Authorization"] = f"Bearer {api.token}"
    return api


def me_get(server, page, path: str) -> dict:
    token = page.evaluate("window.__live.state.token")
    r = httpx.get(server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_follow_from_the_player_counts_and_holds_after_a_reload(browser, server):
    room = unique_room("web-follow")
    api = host_api(server, room, "Fay")
    api.live_room("Follow me")
    host_id = api.call("GET", "")["room"]["host"]["id"]
    page = open_player(browser, server, room, "Gus", PHONE)
    try:
        button = page.locator("#followBtn")
        expect(button).to_be_visible()
        expect(button).to_have_text("Follow")
        expect(button).to_have_attribute("aria-pressed", "false")
        expect(page.locator("#hostFollowers")).to_have_text("0 followers")
        button.click()
        expect(button).to_have_text("Following")
        expect(button).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#hostFollowers")).to_have_text("1 follower")
        assert low_contrast(page) == []
        hosts = me_get(server, page, "/api/follows")["hosts"]
        assert [(h["id"], h["name"], h["followers"]) for h in hosts] == [(host_id, "Fay", 1)], hosts
        assert hosts[0]["live_room"] == {"id": room, "title": "Follow me"}, hosts

        page.reload()  # the state is the server's (hello.you.follows_host, room.host.followers)
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        expect(button).to_have_text("Following")
        expect(page.locator("#hostFollowers")).to_have_text("1 follower")

        button.click()  # and back
        expect(button).to_have_text("Follow")
        expect(page.locator("#hostFollowers")).to_have_text("0 followers")
        assert me_get(server, page, "/api/follows")["hosts"] == []
        no_js_errors(page)
    finally:
        close(page)
        api.close()


def test_the_host_sees_no_follow_button_for_themselves(browser, server):
    room = unique_room("web-selffollow")
    api = host_api(server, room, "Ida")
    api.live_room("My own show")
    page = new_page(browser, PHONE)
    try:
        viewer = server.token("viewer", None, name="Ida", sub=api.call("GET", "")["room"]["host"]["id"])
        page.goto(f"{server.url}/watch/{room}#token={viewer}")
        expect(page.locator("body")).to_have_attribute("data-net", "online")
        expect(page.locator("#hostFollowers")).to_have_text("0 followers")
        expect(page.locator("#followBtn")).to_be_hidden()
        no_js_errors(page)
    finally:
        close(page)
        api.close()


def test_a_share_link_credits_the_sharer_on_the_host_leaderboard(browser, server):
    room = unique_room("web-share")
    api = host_api(server, room, "Hal")
    api.call("PUT", "", {"title": "Share and earn", "commission_bp": 1000}, status=201)
    api.call("POST", "/start", status=200)
    api.product("mug", title="Panda mug", list_price_cents=2999, stock=5, status=201)
    sharer = open_player(browser, server, room, "Sam", DESKTOP)
    sharer.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    buyer = None
    panel = new_page(browser, DESKTOP)
    try:
        panel.goto(f"{server.url}/host/{room}#token={api.token}")
        expect(panel.locator("#shareRows")).to_contain_text("Nobody has shared this show yet.")

        sharer.click("#shareBtn")
        notice = sharer.locator("#notice")
        expect(notice).to_have_text(
            re.compile(rf"^Link copied: {re.escape(server.url)}/watch/{room}\?share=\S+$")
        )
        url = notice.inner_text().removeprefix("Link copied: ")
        assert sharer.evaluate("navigator.clipboard.readText()") == url
        sharer.click("#shareBtn")  # the same code every time
        expect(notice).to_have_text(f"Link copied: {url}")

        # Someone else opens the link (a context of their own) and buys from the bag.
        buyer = new_page(browser, PHONE)
        buyer.goto(f"{url}&name=Bea")
        expect(buyer.locator("body")).to_have_attribute("data-net", "online")
        assert "share=" in buyer.evaluate("window.__live.socket.url()")
        buyer.click("#bagBtn")
        buyer.locator("#bagList li[data-product='mug'] .bag-buy").click()
        expect(buyer.locator("#bagList li[data-product='mug'] .bag-mine")).to_have_text("you have 1")

        # 10 % of ¥29.99 is 299.9 cents: the server floors it to ¥2.99.
        sam_id = sharer.evaluate("window.__live.state.me.id")
        row = panel.locator(f'#shareRows tr[data-user="{sam_id}"]')
        expect(row.locator(".sh-sharer")).to_have_text("Sam")
        expect(row.locator(".sh-visits")).to_have_text("1")
        expect(row.locator(".sh-buyers")).to_have_text("1")
        expect(row.locator(".sh-orders")).to_have_text("1")
        expect(row.locator(".sh-gmv")).to_have_text("¥29.99")
        expect(row.locator(".sh-commission")).to_have_text("¥2.99")
        name_cell = row.locator(".sh-sharer").bounding_box()
        assert name_cell and name_cell["height"] < 40, name_cell  # "Sam" on one line, not squeezed
        expect(panel.locator("#sharesNote")).to_have_text("1 · ¥2.99 commission")
        assert low_contrast(panel) == []
        no_js_errors(sharer, buyer, panel)
    finally:
        close(sharer, panel, *([buyer] if buyer else []))
        api.close()
