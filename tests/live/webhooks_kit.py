"""Test kit of the webhook tests: outbox entries seeded the way the room scripts write them, and a
real HTTP receiver (standard library only) that checks every signature with hmac and hashlib.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.server
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from live.keys import RoomKeys, hook_rooms

SECRET = "whsec-test-0123456789"


def envelope(room: str, n: int, created_ms: int, kind: str = "order.confirmed") -> bytes:
    event_id = f"evt_{room}_{n}"
    data = {"order": {"id": f"o-{n}", "room": room, "state": "confirmed", "version": 1}}
    return orjson.dumps({"id": event_id, "type": kind, "created_ms": created_ms, "data": data})


async def seed(
    redis: Any, prefix: str, room: str, count: int, created_ms: int, status: str = "live"
) -> list[str]:
    """Write ``count`` events into the room's outbox as spec12's writers do, in one transaction.

    HSET hooks, ZADD hooks_due (due = created_ms), HINCRBY meta hook_n, and the index entry.
    """
    k = RoomKeys(prefix, room)
    start = int(await redis.hget(k.meta, "hook_n") or 0)
    ids = []
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(k.meta, "status", status)
        for n in range(start + 1, start + count + 1):
            ids.append(f"evt_{room}_{n}")
            pipe.hset(k.hooks, ids[-1], envelope(room, n, created_ms))
            pipe.zadd(k.hooks_due, {ids[-1]: created_ms})
        pipe.hincrby(k.meta, "hook_n", count)
        await pipe.execute()
    await redis.zadd(hook_rooms(prefix), {room: created_ms}, lt=True)
    return ids


def signature_ok(secret: str, header: str, body: bytes, now_s: float, tolerance_s: float = 300) -> bool:
    """The receiver's check, written from the docs with hmac and hashlib only."""
    parts = [p.strip().split("=", 1) for p in header.split(",") if "=" in p]
    t = next((v for k, v in parts if k == "t"), None)
    if t is None or not t.isdigit() or abs(now_s - int(t)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")


class Receiver:
    """A webhook receiver on 127.0.0.1 in a thread: http.server, answering by ``decide(n, body)``.

    ``decide`` gets the request's number (1, 2, ...) and returns the status to answer (after
    ``answer_after_s``), or None to hold the request open until ``release()``. ``down()`` closes
    the listening socket (attempts are refused) and ``up()`` listens again on the same port.
    Every request is kept in ``requests``: (event id, status answered, signature valid).
    """

    def __init__(
        self,
        secret: str = SECRET,
        decide: Callable[[int, bytes], int | None] | None = None,
        answer_after_s: float = 0.0,
    ) -> None:
        self.secret = secret
        self.decide = decide or (lambda n, body: 200)
        self.answer_after_s = answer_after_s  # a slow receiver: every answer waits this long
        self.requests: list[tuple[str, int | None, bool]] = []
        self.lock = threading.RLock()  # wait() predicates call delivered_ids(), which locks too
        self.arrived = threading.Condition(self.lock)
        self.held = threading.Event()
        self.port = 0
        self.open_sockets: set[socket.socket] = set()
        self.holding = 0  # requests not answered yet, and the most at once
        self.max_holding = 0
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver.open_sockets.add(self.connection)

            def finish(self) -> None:
                with receiver.lock:
                    receiver.open_sockets.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                valid = self.headers.get("Content-Type") == "application/json" and signature_ok(
                    receiver.secret, self.headers.get("Live-Signature", ""), body, time.time()
                )
                event_id = orjson.loads(body)["id"]
                with receiver.lock:
                    n = len(receiver.requests) + 1
                    status = receiver.decide(n, body)
                    receiver.requests.append((event_id, status, valid))
                    receiver.arrived.notify_all()
                with receiver.lock:
                    receiver.holding += 1
                    receiver.max_holding = max(receiver.max_holding, receiver.holding)
                receiver.held.wait(30 if status is None else receiver.answer_after_s)
                with receiver.lock:
                    receiver.holding -= 1
                if status is None:
                    return  # the sender is gone by now (or gives up): no answer
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")

        return Handler

    def up(self) -> None:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        server.block_on_close = False
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            # Kept-alive connections would go on being served: down means refused, so cut them.
            with self.lock:
                for sock in self.open_sockets:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
            assert self._thread is not None
            self._thread.join(5)
            self._server = None

    def release(self) -> None:
        self.held.set()

    def close(self) -> None:
        self.release()
        self.down()

    def wait(self, pred: Callable[[list[tuple[str, int | None, bool]]], bool], timeout: float = 30) -> None:
        """Block (in the test's thread: call through asyncio.to_thread) until pred(requests)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not pred(self.requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver timed out; got {len(self.requests)} requests")
                self.arrived.wait(left)

    def delivered_ids(self) -> set[str]:
        with self.lock:
            return {event_id for event_id, status, valid in self.requests if status and 200 <= status < 300}

    def all_signed(self) -> bool:
        with self.lock:
            return all(valid for _, _, valid in self.requests)


def refused_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
