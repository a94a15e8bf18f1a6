"""Test support: a small WebSocket client and HTTP helper, over the process kit (``kit/``).

The processes themselves (``RedisProc``, ``ServerProc``, ...) live in ``kit.procs``, shared with
the benchmarks; they are re-exported here for the tests that import them from this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import orjson
import websockets

from kit.procs import REPO, RedisProc, ServerProc, free_port
from kit.tokens import SECRET, token_for
from rooms.events import DURABLE

__all__ = [
    "REPO",
    "SECRET",
    "Client",
    "Http",
    "RedisProc",
    "ServerProc",
    "connect_crowd",
    "free_port",
    "make_room",
    "new_prefix",
    "test_token",
    "unique_room",
]

_prefixes = itertools.count(1)
_rooms = itertools.count(1)


def unique_room(stem: str = "r") -> str:
    return f"{stem}-{os.getpid()}-{next(_rooms)}"


def test_token(secret: str, role: str, room: str | None, name: str, sub: str | None) -> str:
    """A one-hour token; the user id defaults to the name's id-safe letters."""
    return token_for(secret, role, room, name, sub)


test_token.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def new_prefix() -> str:
    return f"t{os.getpid()}-{next(_prefixes)}:"


class Http:
    """Synchronous-looking async HTTP helper bound to one server and token."""

    def __init__(self, server: ServerProc, token: str | None = None) -> None:
        self.server = server
        self.token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.url, timeout=10) as client:
            content = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
            return await client.request(method, path, content=content, headers=self.headers())


async def make_room(
    server: ServerProc, room: str | None = None, *, start: bool = True, title: str = "Show"
) -> tuple[str, Http]:
    room = room or unique_room()
    host = Http(server, server.token("host", room, name="Host", sub="host"))
    r = await host.call("PUT", f"/api/rooms/{room}", {"title": title})
    assert r.status_code == 201, r.text
    if start:
        r = await host.call("POST", f"/api/rooms/{room}/start")
        assert r.status_code == 200, r.text
    return room, host


class Client:
    """A WebSocket viewer that keeps every event it got, in order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.frames = 0
        self._cursor = 0
        self.closed_code: int | None = None
        self._reader = asyncio.create_task(self._read())
        self._arrived = asyncio.Event()

    @classmethod
    async def connect(
        cls,
        server: ServerProc,
        room: str,
        token: str | None = None,
        since: int | None = None,
        share: str | None = None,
        **kw: Any,
    ) -> Client:
        query = []
        if token:
            query.append(f"token={token}")
        if since is not None:
            query.append(f"since={since}")
        if share is not None:
            query.append(f"share={share}")
        url = f"{server.ws_url}/ws/{room}" + ("?" + "&".join(query) if query else "")
        # No client keepalive: a test process busy parsing thousands of events would miss its own
        # pong deadline and close with 1011, which is not what these tests are about.
        ws = await websockets.connect(url, compression=None, max_size=None, ping_interval=None, **kw)
        client = cls(ws)
        await client.next_of("hello")
        return client

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                frame = orjson.loads(message)
                assert isinstance(frame, list), f"server frame is not an array: {message!r}"
                self.frames += 1
                self.events.extend(frame)
                self._arrived.set()
        except (websockets.ConnectionClosed, asyncio.CancelledError):
            pass
        finally:
            self.closed_code = self.ws.close_code or 1006
            self._arrived.set()

    def rewind(self, index: int) -> None:
        """Look again from ``events[index]`` on: for events whose order against an ack is not promised."""
        self._cursor = index

    async def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0, consume: bool = True
    ) -> dict[str, Any]:
        """The next event (after the cursor) matching pred."""
        deadline = time.monotonic() + timeout
        scanned = self._cursor  # each wake looks only at what arrived since the last one
        while True:
            for i in range(scanned, len(self.events)):
                if pred(self.events[i]):
                    if consume:
                        self._cursor = i + 1
                    return self.events[i]
            scanned = len(self.events)
            if self.closed_code is not None:
                raise AssertionError(
                    f"closed ({self.closed_code}) before the event arrived; got {self.events[-5:]}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; last events {self.events[-5:]}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def next_of(self, t: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        return await self.wait_for(
            lambda e: e.get("t") == t and all(e.get(k) == v for k, v in match.items()), timeout
        )

    async def send(self, obj: Any) -> None:
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else orjson.dumps(obj).decode())

    async def request(self, obj: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send a request with an id; return its ack or error."""
        await self.send(obj)
        rid = obj["id"]
        return await self.wait_for(lambda e: e.get("t") in ("ack", "error") and e.get("id") == rid, timeout)

    async def closed(self, timeout: float = 5.0) -> int:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        assert self.closed_code is not None, "connection still open"
        return self.closed_code

    def durable(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("t") in DURABLE]

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)


async def connect_crowd(servers: Sequence[ServerProc], room: str, n: int, stem: str) -> list[Client]:
    """``n`` signed-in viewers ``<stem><i>`` spread over ``servers``, connected 100 at a time."""
    gate = asyncio.Semaphore(100)

    async def connect(i: int) -> Client:
        server = servers[i % len(servers)]
        async with gate:
            token = server.token(name=f"{stem}{i}", sub=f"{stem}{i}")
            return await Client.connect(server, room, token, open_timeout=60)

    return list(await asyncio.gather(*(connect(i) for i in range(n))))


async def until(what: str, pred: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for ``pred()`` to hold (polled every 10 ms); fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
