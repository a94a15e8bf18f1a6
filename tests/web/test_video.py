"""WebRTC in the browser: the panel publishes Chromium's fake camera, a player shows the picture."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.support import unique_room
from tests.web.pages import HostApi, close, no_js_errors, open_host, open_player

pytestmark = pytest.mark.timeout(120)

PLAYING = "() => { const v = document.querySelector('#video'); return v.videoWidth > 0 && !v.paused; }"


def test_host_publishes_the_fake_camera_and_a_player_plays_it(browser, server):
    room = unique_room("web-video")
    api = HostApi(server, room)
    api.live_room("Video show")
    probe = httpx.post(
        f"{server.url}/api/rooms/{room}/publish",
        json={"sdp": "", "type": "offer"},
        headers={"Authorization": f"Bearer {api.token}"},
        timeout=10,
    )
    if probe.status_code == 404:
        pytest.skip(f"video is not enabled on this server: {probe.text}")
    # Before anyone publishes the player shows a poster and keeps asking (409 conflict).
    player = open_player(browser, server, room, "Lee")
    host = open_host(browser, server, room)
    try:
        expect(player.locator("#poster")).to_be_visible()
        expect(player.locator("#posterText")).to_have_text("Hana is live. Waiting for the camera…")

        host.click("#camBtn")
        host.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        host.click("#publishBtn")
        expect(host.locator("#onAir")).to_be_visible(timeout=20_000)
        expect(host.locator("#camStatus")).to_have_text("On air: your viewers see and hear you.")

        player.wait_for_function(PLAYING, timeout=30_000)  # the player retries every 4 s
        expect(player.locator("#poster")).to_be_hidden()
        assert player.evaluate("document.querySelector('#video').videoWidth") > 0

        # A second player that arrives while the host is on air plays at once.
        late = open_player(browser, server, room, "Max")
        try:
            late.wait_for_function(PLAYING, timeout=20_000)
        finally:
            close(late)

        # The host stops the video: the player goes back to its poster (3 s without a packet).
        host.click("#unpublishBtn")
        expect(player.locator("#poster")).to_be_visible(timeout=20_000)
        expect(player.locator("#posterText")).to_have_text("Hana is live. Waiting for the camera…")
        no_js_errors(host, player)
    finally:
        close(host, player)
        api.close()
