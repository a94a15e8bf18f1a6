#!/usr/bin/env python3
"""Screenshots of the web pages for docs/screenshots/.

Starts its own `live serve --dev` (bundled Redis, temporary data dir, free port), seeds a room
with a pin, chat (also in Chinese, with emoji), likes and purchases, opens the player at phone
(390x844 and 320x640, with touch) and desktop (1440x900, 1024x768) sizes and the host panel at
1366x768 in Debian's Chromium, writes PNGs, and stops everything it started.

    python scripts/screenshots.py [--out docs/screenshots] [--no-video]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from websockets.sync.client import ClientConnection, connect

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
SMALL_PHONE: ViewportSize = {"width": 320, "height": 640}
DESKTOP: ViewportSize = {"width": 1440, "height": 900}
LAPTOP: ViewportSize = {"width": 1024, "height": 768}
HOST: ViewportSize = {"width": 1366, "height": 768}
ROOM = "showcase"
PIN = {
    "product": {
        "id": "panda-mug",
        "title": "Panda mug, hand-painted",
        "list_price_cents": 5900,
        "image_url": "/static/img/panda-mug.svg",
    },
    "stock": 50,
    "limit_per_user": 2,
    "starts_in_s": 0,
    "duration_s": 900,
    "tiers": [
        {"at": 0, "price_cents": 4900},
        {"at": 3, "price_cents": 3900},
        {"at": 6, "price_cents": 2900},
        {"at": 10, "price_cents": 1900},
    ],
    "count": "posters",
    "price_protection": True,
}


class Server:
    """`live serve --dev` on a free port with a bundled Redis in a temporary directory."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="live-shots-")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "live", "serve", "--dev", "--port", "0", "--data-dir", self.dir],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        match = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if not match:
            self.stop()
            raise SystemExit(f"live serve did not start: {line.strip()}")
        self.url = match.group(1)
        self.ws_url = self.url.replace("http://", "ws://")
        bundled = re.search(r"redis (redis://[\d.]+:\d+/\d+)", line)
        self.redis_url = bundled.group(1) if bundled else None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise SystemExit("live serve never became healthy")

    def token(self, name: str, role: str = "viewer", room: str | None = None) -> str:
        body: dict[str, Any] = {"name": name, "role": role}
        if room:
            body["room"] = room
        return str(httpx.post(self.url + "/api/dev/token", json=body, timeout=5).json()["token"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # it stops its bundled Redis on the way out
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stop_bundled_redis()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _stop_bundled_redis(self) -> None:
        # `live serve` exits on SIGTERM without stopping its bundled redis-server (uvicorn
        # re-raises the signal after its graceful shutdown, so the CLI's `finally` never
        # runs). Stop the one this server printed, so nothing we started outlives us.
        if not self.redis_url:
            return
        client = redis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=1)
        with contextlib.suppress(redis.RedisError):
            client.shutdown(nosave=True)
        client.close()


class Crowd:
    """A few viewers on plain WebSockets who chat, like and buy."""

    def __init__(self, server: Server, names: list[str], share: str | None = None) -> None:
        self.conns: dict[str, ClientConnection] = {}
        for name in names:
            url = f"{server.ws_url}/ws/{ROOM}?token={server.token(name)}"
            if share:  # came by a share link: the sharer is credited with what they buy
                url += f"&share={share}"
            # The crowd reads only its answers: an unbounded queue keeps the reader reading
            # what else comes, so pings and the closing handshake are never stuck behind it.
            self.conns[name] = connect(url, compression=None, open_timeout=10, max_queue=None).__enter__()
        self.n = 0

    def request(self, name: str, frame: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        frame = {**frame, "id": f"r{self.n}"}
        ws = self.conns[name]
        ws.send(json.dumps(frame))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for event in json.loads(ws.recv(timeout=10)):
                if event.get("id") == frame["id"]:
                    return dict(event)
        raise TimeoutError(frame)

    def say(self, name: str, text: str) -> None:
        self.request(name, {"t": "chat", "text": text})

    def like(self, name: str, n: int) -> None:
        self.conns[name].send(json.dumps({"t": "like", "n": n}))

    def close(self) -> None:
        for ws in self.conns.values():
            with contextlib.suppress(Exception):
                ws.close()


def page(browser: Browser, viewport: ViewportSize, url: str) -> Page:
    touch = viewport["width"] < 900  # a phone: touch screen, mobile viewport
    context = browser.new_context(viewport=viewport, device_scale_factor=1, has_touch=touch, is_mobile=touch)
    context.set_default_timeout(15_000)
    p = context.new_page()
    p.goto(url)
    return p


def plan_show(server: Server, host: str, room: str, body: dict[str, Any]) -> tuple[str, str]:
    """A scheduled show of a host of its own: (that host's token, the host's user id)."""
    token = server.token(host, role="host", room=room)
    headers = {"Authorization": f"Bearer {token}"}
    answer = httpx.put(f"{server.url}/api/rooms/{room}", json=body, headers=headers, timeout=10)
    answer.raise_for_status()
    return token, str(answer.json()["host"]["id"])


def home_shots(browser: Browser, server: Server, out: Path) -> None:
    """The home (live now, starting soon, hosts I follow, a go-live toast) and a preview."""
    now_ms = int(time.time() * 1000)
    tea_body = {
        "title": "Tea time: oolong and teapots",
        "starts_at_ms": now_ms + 90 * 60_000,
        "description": "Six oolongs from Fujian, tasted live.\nThe clay teapots at crowd prices.",
    }
    tea_token, tea_host = plan_show(server, "Ning", "tea-time", tea_body)
    for product in (
        {
            "id": "teapot",
            "title": "Clay teapot",
            "list_price_cents": 12900,
            "stock": 20,
            "image_url": "/static/img/panda-mug.svg",
        },
        {
            "id": "tote",
            "title": "Bamboo tote bag",
            "list_price_cents": 4900,
            "stock": 30,
            "image_url": "/static/img/tote.svg",
        },
    ):
        httpx.put(
            f"{server.url}/api/rooms/tea-time/products/{product['id']}",
            json={k: v for k, v in product.items() if k != "id"},
            headers={"Authorization": f"Bearer {tea_token}"},
            timeout=10,
        ).raise_for_status()
    plan_show(
        server, "Bao", "dumplings", {"title": "Dumpling Sunday", "starts_at_ms": now_ms + 3 * 86_400_000}
    )
    noodle_token, noodle_host = plan_show(server, "Mei", "noodles", {"title": "Noodle night"})

    for viewport, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
        home = page(browser, viewport, f"{server.url}/?name=Yue-{name}")
        home.wait_for_selector("body[data-me=online]")
        token = home.evaluate("window.__home.me.token")
        for host in (tea_host, noodle_host):
            httpx.put(
                f"{server.url}/api/follows/{host}", headers={"Authorization": f"Bearer {token}"}, timeout=10
            ).raise_for_status()
        home.reload()
        home.wait_for_selector("#follows li[data-host]")
        home.locator('#soon li[data-room="tea-time"] .remind').click()
        home.wait_for_selector('#soon li[data-room="tea-time"] .remind[aria-pressed=true]')
        home.screenshot(path=str(out / f"home-{name}.png"), full_page=True)
        preview = page(browser, viewport, f"{server.url}/watch/tea-time?name=Yue-{name}")
        preview.wait_for_selector("#preview:not([hidden])")
        preview.wait_for_timeout(500)
        preview.screenshot(path=str(out / f"preview-{name}.png"))
        preview.context.close()
        if name == "phone":
            httpx.post(
                f"{server.url}/api/rooms/noodles/start",
                headers={"Authorization": f"Bearer {noodle_token}"},
                timeout=10,
            ).raise_for_status()
            home.wait_for_selector('.toast[data-room="noodles"]')
            home.wait_for_timeout(400)
            home.screenshot(path=str(out / "home-phone-toast.png"))
        home.context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--no-video", action="store_true", help="do not publish the fake camera")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    server = Server()
    crowd: Crowd | None = None
    try:
        host_token = server.token("Mei", role="host", room=ROOM)
        http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {host_token}"}, timeout=10
        )
        http.put(
            f"/api/rooms/{ROOM}", json={"title": "Panda goods flash sale", "commission_bp": 800}
        ).raise_for_status()
        http.post(f"/api/rooms/{ROOM}/start").raise_for_status()
        pin = http.post(f"/api/rooms/{ROOM}/pins", json=PIN).json()

        crowd = Crowd(server, ["Lin", "Mo", "Ana", "Kai", "Sol", "小美"])
        crowd.say("Lin", "Hi Mei! Is the mug dishwasher safe?")
        crowd.say("小美", "这个熊猫杯好可爱！可以用洗碗机吗？🍓🐼")
        crowd.request("Lin", {"t": "buy", "pin": pin["id"], "qty": 1})
        crowd.say("Mo", "That panda is so cute")
        crowd.like("Mo", 10)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
            try:
                host = page(browser, HOST, f"{server.url}/host/{ROOM}#token={host_token}")
                host.wait_for_selector("#net[data-status=online]")
                if not args.no_video:
                    host.click("#camBtn")
                    host.wait_for_function("document.querySelector('#preview').videoWidth > 0")
                    host.click("#publishBtn")
                    with contextlib.suppress(Exception):
                        host.wait_for_selector("#onAir:not([hidden])", timeout=15_000)

                phone = page(browser, PHONE, f"{server.url}/watch/{ROOM}?name=Yue")
                desk = page(browser, DESKTOP, f"{server.url}/watch/{ROOM}?name=Ren")
                laptop = page(browser, LAPTOP, f"{server.url}/watch/{ROOM}?name=Ida")
                small = page(browser, SMALL_PHONE, f"{server.url}/watch/{ROOM}?name=Bo")
                for viewer in (phone, desk, laptop, small):
                    viewer.wait_for_selector("body[data-net=online]")
                    if not args.no_video:
                        with contextlib.suppress(Exception):
                            viewer.wait_for_function(
                                "document.querySelector('#video').videoWidth > 0", timeout=20_000
                            )
                # Yue buys at the first price, then the crowd chats the price down (price protection).
                phone.click("#buy")
                phone.wait_for_selector("#mine .order")
                crowd.say("Ana", "Three posters for the next price, come on!")
                crowd.say("Kai", "Just bought two, love it")
                crowd.request("Kai", {"t": "buy", "pin": pin["id"], "qty": 2})
                desk.fill("#chatInput", "Does it come in black?")
                desk.press("#chatInput", "Enter")
                crowd.say("Sol", "Price dropped!!")
                crowd.like("Ana", 8)
                for viewer in (phone, desk, laptop, small):
                    viewer.wait_for_function(
                        "document.querySelector('#priceNow').textContent.startsWith('¥29')"
                    )
                # Fresh lines so the bullet screen is mid-flight in the pictures.
                crowd.say("Lin", "Mei, show the bottom of the mug please")
                crowd.say("Mo", "Ordered one for my sister")
                phone.click("#like")
                phone.wait_for_timeout(1800)
                phone.screenshot(path=str(out / "player-phone.png"))
                desk.screenshot(path=str(out / "player-desktop.png"))
                laptop.screenshot(path=str(out / "player-laptop.png"))
                small.screenshot(path=str(out / "player-phone-320.png"))
                phone.tap("#productToggle")  # the card opened: ladder, stock, clock
                phone.wait_for_selector("#ladder", state="visible")
                phone.wait_for_timeout(300)
                phone.screenshot(path=str(out / "player-phone-open.png"))
                phone.tap("#productToggle")

                host.wait_for_function("document.querySelectorAll('#orderRows tr[data-order]').length >= 3")
                host.wait_for_timeout(4500)  # a few stats polls, so the charts have a line
                host.screenshot(path=str(out / "host-desktop.png"))
                host_phone = page(browser, PHONE, f"{server.url}/host/{ROOM}#token={host_token}")
                host_phone.wait_for_selector("#net[data-status=online]")
                host_phone.wait_for_timeout(2500)
                host_phone.screenshot(path=str(out / "host-phone.png"))
                host_phone.locator("#chatCard").scroll_into_view_if_needed()
                host_phone.screenshot(path=str(out / "host-phone-chat.png"))

                lobby = page(browser, DESKTOP, f"{server.url}/")
                lobby.wait_for_selector(f'li.room[data-room="{ROOM}"]')
                lobby.screenshot(path=str(out / "entrance-desktop.png"))

                # Ren shares the show; Wen comes by the link and buys: the panel's leaderboard.
                share = httpx.post(
                    f"{server.url}/api/rooms/{ROOM}/shares",
                    headers={"Authorization": f"Bearer {desk.evaluate('window.__live.state.token')}"},
                    timeout=10,
                ).json()
                shared = Crowd(server, ["Wen"], share=share["code"])
                shared.request("Wen", {"t": "buy", "pin": pin["id"], "qty": 2})
                shared.close()
                desk.click("#shareBtn")
                desk.wait_for_selector("#notice:not([hidden])")
                desk.screenshot(path=str(out / "player-desktop-share.png"))
                host.wait_for_selector("#shareRows tr[data-user]")
                host.locator("#sharesCard").scroll_into_view_if_needed()
                host.screenshot(path=str(out / "host-desktop-shares.png"))

                # The end of the sale: the player is told the refund price protection owes.
                http.delete(f"/api/rooms/{ROOM}/pins/{pin['id']}").raise_for_status()
                phone.wait_for_selector(".refund:not(.pending)")
                phone.wait_for_timeout(500)
                phone.screenshot(path=str(out / "player-phone-ended.png"))

                # The crowd reads nothing from here on: let it go before its sockets fill up.
                crowd.close()
                crowd = None
                home_shots(browser, server, out)
            finally:
                browser.close()
        http.close()
    finally:
        if crowd is not None:
            crowd.close()
        server.stop()
    for png in sorted(out.glob("*.png")):
        print(f"wrote {png.relative_to(REPO) if png.is_relative_to(REPO) else png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
