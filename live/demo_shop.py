"""The demo's shop: a webhook receiver that pays for most orders, as a shop's checkout would.

``live demo`` runs it in its own process, on 127.0.0.1, and points its ``live serve`` at it
(``--webhook-url``, ``--webhook-secret``). For every ``order.reserved`` it checks the
``Live-Signature``, answers 200 at once, and a few seconds later confirms the order with
``POST /api/rooms/{room}/orders/{order}/confirm`` and a service token, except each buyer's
3rd, 8th, 13th... order (one in five), which it leaves unpaid to expire at ``pay_by_ms``: a
newcomer who buys a few things sees the whole lifecycle, and a buyer's first order is always paid.

It is also a small example of a receiver: verify the signature over the raw body, drop
duplicate deliveries by event ``id``, answer fast and do the work after.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson

from live.webhooks.signature import HEADER, verify

PAY_AFTER_S = (3.0, 8.0)  # the "customer" pays this long after reserving
UNPAID_EVERY = 5  # one order in this many is never paid...
UNPAID_AT = 3  # ...a buyer's 3rd, 8th, 13th...: never the first
CONFIRM_TRIES = 3
MAX_BODY = 1 << 20


def left_unpaid(nth_order_of_buyer: int) -> bool:
    """Whether the demo shop lets a buyer's n-th order (1-based) expire instead of paying it."""
    return nth_order_of_buyer % UNPAID_EVERY == UNPAID_AT % UNPAID_EVERY


class DemoShop:
    """The receiver and its pay-later timers. ``start()``, then ``attach()`` once the server listens."""

    def __init__(self, secret: str, pay_after_s: tuple[float, float] = PAY_AFTER_S) -> None:
        self.secret = secret
        self.pay_after_s = pay_after_s
        self.api_url: str | None = None
        self.service_token: str | None = None
        self.seen_events: set[str] = set()
        self.decided: set[str] = set()  # order ids already paid or left unpaid
        self.orders_of: dict[str, int] = {}  # buyer id -> orders reserved so far
        self.confirmed: list[str] = []
        self.unpaid: list[str] = []
        self._lock = threading.Lock()
        self._rng = random.Random()
        self._timers: list[threading.Timer] = []
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/hooks"

    def start(self) -> None:
        threading.Thread(target=self._http.serve_forever, name="demo-shop", daemon=True).start()

    def attach(self, api_url: str, service_token: str) -> None:
        """The room server to confirm orders on; until then deliveries get 503 (and are retried)."""
        self.api_url = api_url
        self.service_token = service_token

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._http.shutdown()
        self._http.server_close()

    # The receiving side. -----------------------------------------------------------------

    def receive(self, signature: str, body: bytes) -> int:
        """One delivery: the HTTP status to answer with."""
        if not verify(self.secret, signature, body, time.time()):
            return 401
        if self.api_url is None:
            return 503
        try:
            event = orjson.loads(body)
            event_id, kind, data = event["id"], event["type"], event["data"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return 400
        with self._lock:
            if event_id in self.seen_events:
                return 200  # a retry of an event already taken: at least once means maybe twice
            self.seen_events.add(event_id)
        if kind == "order.reserved":
            self._reserved(data["order"])
        return 200

    def _reserved(self, order: dict[str, Any]) -> None:
        with self._lock:
            if order["id"] in self.decided:
                return
            self.decided.add(order["id"])
            n = self.orders_of[order["user"]] = self.orders_of.get(order["user"], 0) + 1
            if left_unpaid(n):
                self.unpaid.append(order["id"])
                return
            timer = threading.Timer(self._rng.uniform(*self.pay_after_s), self._confirm, args=(order,))
            timer.daemon = True
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def _confirm(self, order: dict[str, Any]) -> None:
        path = f"/api/rooms/{order['room']}/orders/{order['id']}/confirm"
        headers = {"Authorization": f"Bearer {self.service_token}"}
        for attempt in range(CONFIRM_TRIES):
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.post(f"{self.api_url}{path}", headers=headers, timeout=5)
                # 409: cancelled or expired meanwhile; the shop would refund, the demo lets it be.
                if r.status_code in (200, 409):
                    if r.status_code == 200:
                        with self._lock:
                            self.confirmed.append(order["id"])
                    return
            time.sleep(1 + attempt)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.path != "/hooks" or not 0 <= length <= MAX_BODY:
                    self._answer(404 if self.path != "/hooks" else 413)
                    return
                body = self.rfile.read(length)
                self._answer(shop.receive(self.headers.get(HEADER, ""), body))

            def _answer(self, status: int) -> None:
                payload = b'{"ok":true}' if status == 200 else b'{"ok":false}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the demo's terminal is for the server

        return Handler
