"""Shared parts of the benchmarks: redis-server and `live serve` from the process kit (kit/),
process CPU from /proc, a minimal WebSocket reader for thousands of passive viewers."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from kit.crowd import RawViewer, connect_loopback  # noqa: E402
from kit.procs import LOAD_TEST_ENV, RedisProc, ServerProc  # noqa: E402
from kit.tokens import SECRET  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its reaped children) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def start_redis(appendfsync: str = "everysec") -> RedisProc:
    return RedisProc(appendfsync).start()


def start_server(redis_url: str, env: dict[str, str] | None = None) -> ServerProc:
    """One `live serve` on the default key prefix, without --dev (as in production)."""
    return ServerProc(redis_url, "live:", {**LOAD_TEST_ENV, **(env or {})}, dev=False)


def sale_pin(stock: int = 1_000_000) -> dict[str, object]:
    """A pin for buying benchmarks: one price, a large stock, and a long sale."""
    return {
        "id": "p1",
        "product": {"id": "x", "title": "X", "list_price_cents": 100},
        "stock": stock,
        "limit_per_user": 100,
        "duration_s": 3600,
        "tiers": [{"at": 0, "price_cents": 100}],
    }


def token(sub: str, role: str = "viewer", room: str | None = None) -> str:
    from live.auth import make_token

    return make_token(SECRET, sub=sub, name=sub[:32], role=role, room=room, ttl_s=7200)


class PassiveViewer(RawViewer):
    """A viewer that only reads: counts text frames and hands sampled payloads to ``on_text``.

    Per-frame work is a header parse: the bench measures the server, not this reader.
    """

    def __init__(
        self, path: str, host: str, on_text: Callable[[bytes], None] | None, ready: asyncio.Future[None]
    ) -> None:
        super().__init__(path, host, ready)
        self.on_text = on_text
        self.frames = 0
        self.bytes = 0
        self.chat_events = 0

    @property
    def closed(self) -> bool:
        return self.close_code is not None or self.lost.done()

    def frame(self, opcode: int, buf: bytearray, start: int, length: int) -> None:
        if opcode != 0x1:
            super().frame(opcode, buf, start, length)
            return
        payload = bytes(buf[start : start + length])
        self.frames += 1
        self.bytes += length
        self.chat_events += payload.count(b'"t":"chat"')
        if self.on_text is not None:
            self.on_text(payload)


class RawClient(PassiveViewer):
    """A passive viewer that also sends text frames, masked with a zero key (legal, and free):
    a load generator whose per-request cost stays far below the server's."""

    def send_text(self, payload: bytes) -> None:
        assert self.transport is not None
        n = len(payload)
        header = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
        self.transport.write(header + b"\0\0\0\0" + payload)


async def open_client(
    host: str, port: int, path: str, on_text: Callable[[bytes], None] | None, index: int = 0
) -> RawClient:
    """A RawClient of ``path``; ``index`` picks its loopback source address (kit.crowd)."""
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _, proto = await connect_loopback(lambda: RawClient(path, host, on_text, ready), host, port, index)
    await ready
    return cast(RawClient, proto)


async def open_passive(
    host: str, port: int, path: str, on_text: Callable[[bytes], None] | None, index: int = 0
) -> PassiveViewer:
    """A PassiveViewer of ``path``; ``index`` picks its loopback source address (kit.crowd)."""
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _, proto = await connect_loopback(lambda: PassiveViewer(path, host, on_text, ready), host, port, index)
    await ready
    return cast(PassiveViewer, proto)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def run(main: object) -> object:
    """asyncio.run on uvloop when it is installed."""
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)  # type: ignore[arg-type]
