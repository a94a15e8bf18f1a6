"""HLS beside WebRTC in Chromium: the host panel publishes the fake camera; players pick a path.

Chromium here is Debian's, whose FFmpeg decodes H.264 and AAC in Media Source Extensions
(checked below with ``MediaSource.isTypeSupported`` before relying on it).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from aiortc import RTCPeerConnection
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from tests.support import ServerProc, unique_room
from tests.web.pages import DESKTOP, PHONE, HostApi, close, new_page, no_js_errors, open_host, shot

pytestmark = pytest.mark.timeout(180)

AVC_AAC = 'video/mp4; codecs="avc1.4D401E,mp4a.40.2"'
# Playing: a picture, time advancing, not paused.
PLAYING = "() => { const v = document.querySelector('#video'); return v.videoWidth > 0 && !v.paused; }"


@pytest.fixture
def hls_server(start_server: Callable[..., ServerProc]) -> Iterator[Callable[[int], ServerProc]]:
    def start(webrtc_viewers_max: int) -> ServerProc:
        return start_server(env={"LIVE_WEBRTC_VIEWERS_MAX": str(webrtc_viewers_max)})

    yield start


def _on_air(browser, server: ServerProc, room: str, create: bool = True) -> tuple[HostApi, Page]:
    api = HostApi(server, room)
    if create:
        api.live_room("HLS show")
    host = open_host(browser, server, room)
    host.click("#camBtn")
    host.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
    host.click("#publishBtn")
    expect(host.locator("#onAir")).to_be_visible(timeout=20_000)
    # The playlist appears within a segment or two of the first frame.
    with httpx.Client(timeout=5) as http:
        for _ in range(200):
            r = http.get(f"{server.url}/hls/{room}/index.m3u8")
            if r.status_code == 200 and ".m4s" in r.text:
                break
            host.wait_for_timeout(100)
        else:
            raise AssertionError(f"no playlist: {r.status_code} {r.text[:200]}")
    return api, host


def _player(browser, server: ServerProc, room: str, query: str = "", viewport=PHONE) -> Page:
    page = new_page(browser, viewport)
    page.goto(f"{server.url}/watch/{room}?name=Lee{query}")
    expect(page.locator("body")).to_have_attribute("data-net", "online")
    return page


def _advancing(page: Page) -> None:
    """currentTime moves on by a second and more: it plays, not one frozen picture."""
    start = page.evaluate("document.querySelector('#video').currentTime")
    page.wait_for_function(
        f"() => document.querySelector('#video').currentTime > {start} + 1.0", timeout=30_000
    )


def test_chromium_decodes_h264_and_aac_in_mse(browser) -> None:
    page = new_page(browser, PHONE)
    try:
        page.set_content("<video></video>")
        assert page.evaluate("(t) => MediaSource.isTypeSupported(t)", AVC_AAC), (
            "this Chromium cannot play H.264 + AAC in MSE: the HLS player cannot work here"
        )
    finally:
        close(page)


def test_hls_and_webrtc_side_by_side_each_says_its_path_and_delay(browser, hls_server, tmp_path) -> None:
    server = hls_server(10)
    room = unique_room("web-hls")
    api, host = _on_air(browser, server, room)
    over_hls = _player(browser, server, room, "&video=hls")
    over_rtc = _player(browser, server, room, "&video=webrtc", viewport=DESKTOP)
    try:
        for page, path in ((over_hls, "HLS"), (over_rtc, "WebRTC")):
            page.wait_for_function(PLAYING, timeout=40_000)
            _advancing(page)
            expect(page.locator("#poster")).to_be_hidden()
            chip = page.locator("#videoPath")
            try:
                expect(chip).to_have_text(
                    re.compile(rf"^{path} · (\d+\.\d s|\d+ ms) behind live$"), timeout=20_000
                )
            except AssertionError as err:
                # Once in CI the HLS player fell back to WebRTC: say why the path failed, next time.
                log = page.evaluate("JSON.stringify(window.__live.video.log)")
                raise AssertionError(f"{err}\nvideo log: {log}") from None
        # hello said where the playlist is; the HLS player took it from there.
        assert over_hls.evaluate("window.__live.state.room.hls") == f"/hls/{room}/index.m3u8"
        assert over_hls.evaluate("window.__live.video.path") == "hls"
        assert over_rtc.evaluate("window.__live.video.path") == "webrtc"
        # Measured delays: HLS a few seconds (two 1 s segments behind the edge), WebRTC well under.
        hls_s = over_hls.evaluate("window.__live.video.delayMs") / 1000
        rtc_s = over_rtc.evaluate("window.__live.video.delayMs") / 1000
        assert 0.5 < hls_s < 15, hls_s
        assert 0 <= rtc_s < 3, rtc_s
        shot(over_hls, tmp_path, "hls-phone-playing")
        shot(over_rtc, tmp_path, "hls-desktop-webrtc")
        no_js_errors(over_hls, over_rtc, host)
    finally:
        close(over_hls, over_rtc, host)
        api.close()


def test_refused_webrtc_falls_back_to_hls(browser, hls_server, tmp_path) -> None:
    # A process that takes no WebRTC viewer: every watch is a 409 that names the playlist.
    server = hls_server(0)
    room = unique_room("web-hls-full")
    api, host = _on_air(browser, server, room)
    page = _player(browser, server, room)  # no ?video=: WebRTC first
    try:
        # The watch's 409 with `hls` (tests/live/test_hls_http.py checks the answer itself).
        page.wait_for_function(PLAYING, timeout=40_000)
        _advancing(page)
        expect(page.locator("#videoPath")).to_have_text(re.compile(r"^HLS"), timeout=20_000)
        log = page.evaluate("window.__live.video.log.filter((e) => e.reason).map((e) => e.path)")
        assert log[0] == "webrtc", log  # asked first, refused, then HLS without another attempt
        assert not page.evaluate("window.__live.video.log.some((e) => e.failed)")
        shot(page, tmp_path, "hls-phone-fallback")
        # The host stops: the playlist goes (404), the player goes back to its poster.
        host.click("#unpublishBtn")
        expect(page.locator("#poster")).to_be_visible(timeout=40_000)
        expect(page.locator("#videoPath")).to_be_hidden()
        no_js_errors(page, host)
    finally:
        close(page, host)
        api.close()


def _aiortc_offer() -> dict[str, str]:
    """A receive-only offer as a viewer sends it (its candidates are never used: the answer is 409)."""

    async def make() -> dict[str, str]:
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"sdp": pc.localDescription.sdp, "type": "offer"}
        await pc.close()
        return offer

    # Playwright's sync API owns this thread's event loop: the offer is made in a thread of its own.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make()).result(timeout=30)


def _hello_room(server: ServerProc, room: str) -> dict:
    with connect(f"{server.ws_url}/ws/{room}", compression=None, open_timeout=10) as ws:
        for event in json.loads(ws.recv(timeout=10)):
            if event["t"] == "hello":
                return event["room"]
    raise AssertionError("no hello")


def test_playlist_headers_hello_and_the_409_on_every_process(
    browser, start_server: Callable[..., ServerProc], tmp_path
) -> None:
    shared = tmp_path / "hls"  # one HLS directory for both processes (a shared disk)
    env = {"LIVE_HLS_DIR": str(shared)}
    a = start_server(env={**env, "LIVE_WEBRTC_VIEWERS_MAX": "0"})
    b = start_server(env=env)
    room = unique_room("web-hls-http")
    path = f"/hls/{room}/index.m3u8"
    setup = HostApi(a, room)
    setup.live_room("HLS show")
    setup.close()
    with httpx.Client(timeout=10) as http:
        # Nobody publishes: no playlist, no hls in hello, the plain 409.
        assert http.get(a.url + path).status_code == 404
        assert _hello_room(b, room)["hls"] is None
        offer = _aiortc_offer()
        nobody = http.post(f"{a.url}/api/rooms/{room}/watch", json=offer)
        assert nobody.status_code == 409 and "hls" not in nobody.json()

        api, host = _on_air(browser, a, room, create=False)  # the camera goes to a
        try:
            playlist = http.get(a.url + path)
            assert playlist.status_code == 200
            assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
            assert playlist.headers["cache-control"] == "public, max-age=1"
            assert abs(float(playlist.headers["x-live-clock"]) - time.time()) < 5
            segment = re.findall(r"^(\S+\.m4s)$", playlist.text, re.M)[-1]
            init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist.text).group(1)  # type: ignore[union-attr]
            for name in (segment, init):
                got = http.get(f"{a.url}/hls/{room}/{name}")
                assert got.status_code == 200 and len(got.content) > 100
                assert got.headers["content-type"] == "video/mp4"
                assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
            # A page of another origin (localhost is not 127.0.0.1 to a browser) reads the
            # playlist, its clock, and a 404 as a 404, as hls.js on a shop's own site would.
            other_origin = a.url.replace("127.0.0.1", "localhost")
            read = host.evaluate(
                """async ([base, room]) => {
                    const ok = await fetch(`${base}/hls/${room}/index.m3u8`);
                    const gone = await fetch(`${base}/hls/${room}/zz-1.m4s`);
                    return [ok.status, (await ok.text()).startsWith("#EXTM3U"),
                            Number(ok.headers.get("x-live-clock")) > 0, gone.status];
                }""",
                [other_origin, room],
            )
            assert read == [200, True, True, 404], read
            assert http.get(f"{a.url}/hls/{room}/../../etc/passwd").status_code == 404
            assert http.get(f"{a.url}/hls/{room}/notes.txt").status_code == 404
            # b has no camera, yet serves the files (shared directory) and names them in hello.
            assert http.get(b.url + path).status_code == 200
            assert http.get(f"{b.url}/hls/{room}/{segment}").status_code == 200
            for server in (a, b):
                assert _hello_room(server, room)["hls"] == path
                assert http.get(f"{server.url}/api/rooms/{room}").json()["room"]["hls"] == path
            # a takes no WebRTC viewer (cap 0); b has not the camera: both say "play HLS".
            for server in (a, b):
                refused = http.post(f"{server.url}/api/rooms/{room}/watch", json=offer)
                assert refused.status_code == 409, refused.text
                body = refused.json()
                assert body["error"] == "conflict" and body["hls"] == path, body

            host.click("#unpublishBtn")
            deadline = time.monotonic() + 40
            while http.get(a.url + path).status_code != 404:
                assert time.monotonic() < deadline, "the playlist outlived the stream"
                host.wait_for_timeout(200)
            assert http.get(b.url + path).status_code == 404
            while _hello_room(b, room)["hls"] is not None:
                assert time.monotonic() < deadline, "hello.room.hls outlived the stream"
                host.wait_for_timeout(200)
        finally:
            close(host)
            api.close()
