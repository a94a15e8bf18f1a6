"""Shared parts of the benchmarks: a redis-server and `live serve` started and stopped by pid,
process CPU from /proc, a minimal WebSocket reader for thousands of passive viewers."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-0123456789-abcdefghijklmnop"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its reaped children) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


class RedisServer:
    def __init__(self, appendfsync: str = "everysec", port: int = 0) -> None:
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.port = port or free_port()
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.dir,
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                appendfsync,
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            if (
                subprocess.run(
                    ["redis-cli", "-p", str(self.port), "ping"], capture_output=True
                ).stdout.strip()
                == b"PONG"
            ):
                break
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class LiveServer:
    def __init__(self, redis_url: str, env: dict[str, str] | None = None) -> None:
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
            ],
            stdout=subprocess.PIPE,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        match = re.search(r"listening on http://([\d.]+):(\d+)", line)
        if not match:
            raise RuntimeError(f"server did not start: {line}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.url = f"http://{self.host}:{self.port}"
        time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token(sub: str, role: str = "viewer", room: str | None = None) -> str:
    sys.path.insert(0, str(REPO))
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
