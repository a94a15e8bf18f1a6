"""Shared parts of the benchmarks: the test suite's redis-server and `live serve` processes,
process CPU from /proc, a minimal WebSocket reader for thousands of passive viewers."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.support import SECRET, RedisProc, ServerProc  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its reaped children) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def start_redis(appendfsync: str = "everysec") -> RedisProc:
    return RedisProc(appendfsync).start()


def start_server(redis_url: str, env: dict[str, str] | None = None) -> ServerProc:
    """One `live serve` on the default key prefix, without --dev (as in production)."""
    return ServerProc(redis_url, "live:", env, dev=False)


def token(sub: str, role: str = "viewer", room: str | None = None) -> str:
    from live.auth import make_token

    return make_token(SECRET, sub=sub, name=sub[:32], role=role, room=room, ttl_s=7200)


class PassiveViewer(asyncio.Protocol):
    """A WebSocket client that only reads: counts frames and hands sampled payloads to ``on_text``.

    Server frames are unmasked and unfragmented; pings are answered (masked pong) so the
    server's keepalive never drops us. Per-frame work is a header parse: the bench measures
    the server, not this reader.
    """

    def __init__(
        self, path: str, host: str, on_text: Callable[[bytes], None] | None, ready: asyncio.Future[None]
    ) -> None:
        self.path, self.host, self.on_text, self.ready = path, host, on_text, ready
        self.buf = bytearray()
        self.handshaken = False
        self.frames = 0
        self.bytes = 0
        self.chat_events = 0
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.handshaken:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in self.buf[:end]:
                if not self.ready.done():
                    self.ready.set_exception(RuntimeError(self.buf[:end].decode(errors="replace")))
                return
            del self.buf[: end + 4]
            self.handshaken = True
            if not self.ready.done():
                self.ready.set_result(None)
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 2:
            opcode = buf[pos] & 0x0F
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = struct.unpack_from("!H", buf, pos + 2)[0]
                head = 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if len(buf) - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            if opcode == 0x1:
                self.frames += 1
                self.bytes += length
                self.chat_events += payload.count(b'"t":"chat"')
                if self.on_text is not None:
                    self.on_text(payload)
            elif opcode == 0x9 and self.transport is not None:  # ping -> masked pong
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            elif opcode == 0x8:
                self.closed = True
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("lost before handshake"))


async def open_passive(
    host: str, port: int, path: str, on_text: Callable[[bytes], None] | None
) -> PassiveViewer:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    _, proto = await loop.create_connection(lambda: PassiveViewer(path, host, on_text, ready), host, port)
    await ready
    return proto


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
