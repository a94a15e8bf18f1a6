"""Helpers for the browser tests: open the pages, set rooms up over HTTP, talk as an outside client."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, ViewportSize, expect
from websockets.sync.client import connect

from tests.support import ServerProc

PHONE: ViewportSize = {"width": 390, "height": 844}
SMALL_PHONE: ViewportSize = {"width": 320, "height": 640}
DESKTOP: ViewportSize = {"width": 1366, "height": 900}
WIDE: ViewportSize = {"width": 1440, "height": 900}
LAPTOP: ViewportSize = {"width": 1024, "height": 768}
HOST_LAPTOP: ViewportSize = {"width": 1366, "height": 768}
WAIT_MS = 10_000  # every wait in a browser test is bounded by this

expect.set_options(timeout=WAIT_MS)


def new_page(browser: Browser, viewport: ViewportSize = PHONE) -> Page:
    """A page in a context of its own (its own localStorage: its own person).

    Phone-sized viewports (under 900 px wide) get a touch screen, as a phone has.
    """
    touch = viewport["width"] < 900
    context = browser.new_context(viewport=viewport, has_touch=touch, is_mobile=touch)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


def open_player(
    browser: Browser, server: ServerProc, room: str, name: str, viewport: ViewportSize = PHONE
) -> Page:
    """The player in dev mode: the page gets its own token from POST /api/dev/token."""
    page = new_page(browser, viewport)
    page.goto(f"{server.url}/watch/{room}?name={name}")
    expect(page.locator("body")).to_have_attribute("data-net", "online")
    expect(page.locator("#nameBtn")).to_have_text(name)
    return page


def open_host(
    browser: Browser,
    server: ServerProc,
    room: str,
    name: str = "Hana",
    viewport: ViewportSize = DESKTOP,
) -> Page:
    """The control panel with a host token handed over in the URL fragment."""
    page = new_page(browser, viewport)
    token = server.token("host", room, name=name, sub=name.lower())
    page.goto(f"{server.url}/host/{room}#token={token}")
    return page


def say(page: Page, text: str) -> None:
    page.fill("#chatInput", text)
    page.press("#chatInput", "Enter")


def no_js_errors(*pages: Page) -> None:
    for page in pages:
        assert page.js_errors == [], page.js_errors  # type: ignore[attr-defined]


def close(*pages: Page) -> None:
    for page in pages:
        with contextlib.suppress(Exception):
            page.context.close()


class HostApi:
    """The host's HTTP calls, for setting a room up without the panel."""

    def __init__(self, server: ServerProc, room: str, name: str = "Hana") -> None:
        self.server = server
        self.room = room
        self.token = server.token("host", room, name=name, sub=name.lower())
        self.http = httpx.Client(
            base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {self.token}"}
        )

    def call(self, method: str, path: str, body: Any = None, status: int | None = None) -> Any:
        r = self.http.request(method, f"/api/rooms/{self.room}{path}", json=body)
        if status is not None:
            assert r.status_code == status, r.text
        return r.json()

    def live_room(self, title: str = "Show") -> None:
        self.call("PUT", "", {"title": title}, status=201)
        self.call("POST", "/start", status=200)

    def pin(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "product": {
                "id": "mug-1",
                "title": "Panda mug",
                "list_price_cents": 3000,
                "image_url": "/static/img/panda-mug.svg",
            },
            "stock": 10,
            "limit_per_user": 2,
            "starts_in_s": 0,
            "duration_s": 120,
            "tiers": [{"at": 0, "price_cents": 2500}, {"at": 2, "price_cents": 2000}],
            "count": "posters",
            "price_protection": True,
        }
        body.update(overrides)
        return self.call("POST", "/pins", body, status=201)

    def product(self, product_id: str, status: int | None = None, **fields: Any) -> dict[str, Any]:
        """Add or change a bag product (PUT …/products/{id})."""
        body = {"title": "Panda mug", "list_price_cents": 3000, "stock": 10, **fields}
        return self.call("PUT", f"/products/{product_id}", body, status=status)

    def drop(self, **body: Any) -> dict[str, Any]:
        """Start a coupon or red-envelope drop (POST …/drops); returns the drop object."""
        return dict(self.call("POST", "/drops", body, status=201))

    def auction(self, **body: Any) -> dict[str, Any]:
        """Put an auction up (POST …/auctions, contract §11); returns the auction object."""
        return dict(self.call("POST", "/auctions", body, status=201))

    def close(self) -> None:
        self.http.close()


class Shop:
    """The shop's own backend, with a service token: confirms and cancels orders (contract §7)."""

    def __init__(self, server: ServerProc) -> None:
        token = server.token("service", None, name="Shop", sub="shop")
        self.http = httpx.Client(
            base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {token}"}
        )

    def settle(self, order: dict[str, Any], verb: str = "confirm") -> dict[str, Any]:
        r = self.http.post(f"/api/rooms/{order['room']}/orders/{order['id']}/{verb}")
        assert r.status_code == 200, r.text
        return r.json()

    def close(self) -> None:
        self.http.close()


class Chatter:
    """Someone outside the browser, on a plain WebSocket (the contract's own client frames)."""

    def __init__(self, server: ServerProc, room: str, name: str, sub: str | None = None) -> None:
        token = server.token("viewer", None, name=name, sub=sub or name.lower())
        # Entered as a context manager: websockets 17 warns about a bare connect().
        self.ws = connect(
            f"{server.ws_url}/ws/{room}?token={token}", compression=None, open_timeout=10
        ).__enter__()
        self.n = 0
        hello = self._next(lambda e: e.get("t") == "hello")
        self.seq = hello["seq"]

    def _next(self, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            frame = json.loads(self.ws.recv(timeout=timeout))
            for event in frame:
                if pred(event):
                    return event

    def say(self, text: str) -> int:
        """Post a line; returns its seq once the server acked it."""
        self.n += 1
        rid = f"c{self.n}"
        self.ws.send(json.dumps({"t": "chat", "id": rid, "text": text}))
        answer = self._next(lambda e: e.get("id") == rid and e.get("t") in ("ack", "error"))
        assert answer["t"] == "ack", answer
        return int(answer["seq"])

    def buy(self, pin: str, qty: int = 1) -> dict[str, Any]:
        """Buy; returns the ack or error event."""
        self.n += 1
        rid = f"b{self.n}"
        self.ws.send(json.dumps({"t": "buy", "id": rid, "pin": pin, "qty": qty}))
        return self._next(lambda e: e.get("id") == rid and e.get("t") in ("ack", "error"))

    def buy_product(self, product: str, qty: int = 1) -> dict[str, Any]:
        """Buy from the bag; returns the ack or error event."""
        self.n += 1
        rid = f"b{self.n}"
        self.ws.send(json.dumps({"t": "buy", "id": rid, "product": product, "qty": qty}))
        return self._next(lambda e: e.get("id") == rid and e.get("t") in ("ack", "error"))

    def grab(self, drop: str) -> dict[str, Any]:
        """Grab from a drop (contract §10); returns the ack or error event."""
        self.n += 1
        rid = f"g{self.n}"
        self.ws.send(json.dumps({"t": "grab", "id": rid, "drop": drop}))
        return self._next(lambda e: e.get("id") == rid and e.get("t") in ("ack", "error"))

    def bid(self, auction: str, cents: int) -> dict[str, Any]:
        """Bid in an auction (contract §11); returns the ack or error event."""
        self.n += 1
        rid = f"a{self.n}"
        self.ws.send(json.dumps({"t": "bid", "id": rid, "auction": auction, "cents": cents}))
        return self._next(lambda e: e.get("id") == rid and e.get("t") in ("ack", "error"))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()


def me_get(server: ServerProc, page: Page, path: str) -> dict[str, Any]:
    """The signed-in person's own view (GET /api/me/...), with the page's token."""
    token = page.evaluate("window.__live.state.token")
    r = httpx.get(server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def shot(page: Page, tmp_path: Path, name: str) -> None:
    """``<name>.png`` into LIVE_SHOTS_DIR (docs/screenshots) when set, else the test's tmp dir."""
    out = Path(os.environ.get("LIVE_SHOTS_DIR", tmp_path)) / f"{name}.png"
    page.screenshot(path=str(out), animations="disabled")
    assert out.stat().st_size > 10_000


def settled(page: Page, card: str) -> None:
    """Wait for ``card``'s own animations (an entrance, a shake) to finish before measuring it."""
    page.locator(card).evaluate("card => Promise.all(card.getAnimations().map((a) => a.finished))")
