"""Test support: real redis-server and real `live serve` processes, and a small WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis
import websockets

from live.auth import make_token
from rooms.events import DURABLE

SECRET = "test-secret-0123456789-abcdefghijklmnop"
REPO = Path(__file__).resolve().parent.parent
_prefixes = itertools.count(1)
_rooms = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_room(stem: str = "r") -> str:
    return f"{stem}-{os.getpid()}-{next(_rooms)}"


class RedisProc:
    """A real redis-server on a free loopback port, with AOF, that a test may kill and restart."""

    def __init__(self, appendfsync: str = "everysec", extra: list[str] | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="live-redis-")
        self.port = free_port()
        self.appendfsync = appendfsync
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProc:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.dir,
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
                "--save",
                "",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    client.close()
                    return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class ServerProc:
    """One `live serve` process (a real uvicorn on a real port)."""

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        dev: bool = True,
    ) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.secret = SECRET
        full_env = {**os.environ, "LIVE_KEY_PREFIX": prefix, "PYTHONUNBUFFERED": "1", **(env or {})}
        # The server's log, kept for reading when a test fails (path printed by the fixture).
        self.log_path = Path(tempfile.mkstemp(prefix="live-serve-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "live",
                "serve",
                "--port",
                "0",
                "--redis-url",
                redis_url,
                "--secret",
                SECRET,
                *(["--dev"] if dev else []),
                *(args or []),
            ],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=full_env,
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        match = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if not match:
            self.proc.wait(10)
            raise RuntimeError(f"live serve did not start: {line}{self.log_path.read_text()}")
        self.url = match.group(1)
        self.ws_url = self.url.replace("http://", "ws://")
        self.host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("live serve never became healthy")

    def token(
        self, role: str = "viewer", room: str | None = None, name: str = "Test", sub: str | None = None
    ) -> str:
        return test_token(self.secret, role, room, name, sub)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


def test_token(secret: str, role: str, room: str | None, name: str, sub: str | None) -> str:
    """A one-hour token; the user id defaults to the name's id-safe letters."""
    sub = sub or re.sub(r"[^A-Za-z0-9_-]", "", name.lower()) or "user"
    return make_token(secret, sub=sub, name=name, role=role, room=room, ttl_s=3600)


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
        cls, server: ServerProc, room: str, token: str | None = None, since: int | None = None, **kw: Any
    ) -> Client:
        query = []
        if token:
            query.append(f"token={token}")
        if since is not None:
            query.append(f"since={since}")
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
