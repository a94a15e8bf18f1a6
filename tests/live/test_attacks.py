"""Attacks on the transport, end to end against real `live serve` processes: each costs only the attacker.

The attackers speak raw bytes over plain sockets (in threads), as a hostile client would: no
client library would send these frames or stop half-way through a request line.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.live.test_wire import client_frame
from tests.support import Client, ServerProc, make_room

TEXT, BINARY, CLOSE, PING = 0x1, 0x2, 0x8, 0x9


class RawWebSocket:
    """A blocking WebSocket client socket that sends whatever bytes it is given."""

    def __init__(self, server: ServerProc, path: str, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect((server.host, server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "closed during the handshake"
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def close_code(self, timeout: float = 10.0) -> int | None:
        """Read server frames until a close frame (its code) or the end of the socket (None)."""
        self.sock.settimeout(timeout)
        data = self.buffer
        while True:
            while len(data) >= 2:
                opcode, length = data[0] & 0x0F, data[1] & 0x7F
                start = 2 + (2 if length == 126 else 8 if length == 127 else 0)
                if len(data) < start:
                    break
                if length == 126:
                    length = struct.unpack("!H", data[2:4])[0]
                elif length == 127:
                    length = struct.unpack("!Q", data[2:10])[0]
                if len(data) < start + length:
                    break
                if opcode == CLOSE:
                    return int(struct.unpack("!H", data[start : start + 2])[0])
                data = data[start + length :]
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                return None
            if not chunk:
                return None
            data += chunk

    def close(self) -> None:
        self.sock.close()


def flood(raw: RawWebSocket, chunk: bytes, seconds: float) -> int:
    """Send ``chunk`` again and again for ``seconds`` or until the server cuts the socket; bytes sent."""
    sent = 0
    deadline = time.monotonic() + seconds
    with contextlib.suppress(OSError):
        while time.monotonic() < deadline:
            raw.sock.sendall(chunk)
            sent += len(chunk)
    return sent


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def metric(server: ServerProc, line_start: str) -> str:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    return "\n".join(line for line in text.splitlines() if line.startswith(line_start))


class Timed:
    """A viewer that notes when each chat line arrives (monotonic clock of this process)."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.arrived: dict[str, float] = {}
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in self.ws:
                now = time.perf_counter()
                for event in orjson.loads(message):
                    if event.get("t") == "chat":
                        self.arrived[event["text"]] = now


async def test_a_garbage_flood_is_cut_off_and_costs_other_viewers_nothing(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(env={"LIVE_CHAT_RATE_POSTS": "0"})
    room, _ = await make_room(server)
    viewer = Timed(await websockets.connect(f"{server.ws_url}/ws/{room}", compression=None))
    posters = [await Client.connect(server, room, server.token(name=f"P{i}", sub=f"p{i}")) for i in range(4)]
    flooder = await asyncio.to_thread(RawWebSocket, server, f"/ws/{room}")
    # 8,192 frames of "xx" a write, as fast as the socket takes them, for up to 4 s.
    garbage = client_frame(TEXT, b"xx") * 8192
    flooding = asyncio.create_task(asyncio.to_thread(flood, flooder, garbage, 4.0))
    close_code = asyncio.create_task(asyncio.to_thread(flooder.close_code))
    # 40 chat lines a second from four posters for 4 s, while the flood runs (or would run).
    posted: dict[str, float] = {}
    health: list[int] = []
    for i in range(160):
        poster = posters[i % 4]
        text = f"line {i}"
        posted[text] = time.perf_counter()
        await poster.send({"t": "chat", "id": f"c{i}", "text": text})
        if i % 40 == 0:
            async with httpx.AsyncClient(timeout=5) as http:
                health.append((await http.get(server.url + "/healthz")).status_code)
        await asyncio.sleep(0.025)
    deadline = time.monotonic() + 20
    while len(viewer.arrived) < len(posted) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await close_code == 1008
    await flooding
    flooder.close()
    assert health == [200] * 4
    assert set(viewer.arrived) == set(posted)
    # Before the fix the flood held the event loop and these lines arrived 8-11 s late. The
    # delivery path itself is one Redis script and one 50 ms tick (typically 50-60 ms end to
    # end); 200 ms leaves room for a loaded 2-core machine while staying far below a stall.
    # The flooder is cut at its first chunk, so nearly the whole window measures the server
    # after the attack, as it should: the attack must leave no lasting cost.
    latencies = sorted(viewer.arrived[t] - posted[t] for t in posted)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    assert p99 < 0.2, f"p99 {p99 * 1000:.0f} ms; slowest {[round(x * 1000) for x in latencies[-5:]]}"
    for poster in posters:
        await poster.close()
    await viewer.ws.close()
    await viewer.task


FLOODS = {
    "garbage text": client_frame(TEXT, b"xx"),
    "unauthorized chat": client_frame(TEXT, b'{"t":"chat","id":"c1","text":"buy buy buy"}'),
    "app pings": client_frame(TEXT, b'{"t":"ping"}'),
    "binary": client_frame(BINARY, b"\x00\x01"),
    "websocket pings": client_frame(PING, b"p" * 125),
}


@pytest.mark.parametrize("kind", list(FLOODS))
async def test_a_burst_of_any_frames_is_closed_1008(shared_server: ServerProc, kind: str) -> None:
    room, _ = await make_room(shared_server)
    raw = await asyncio.to_thread(RawWebSocket, shared_server, f"/ws/{room}")
    flooding = asyncio.create_task(asyncio.to_thread(flood, raw, FLOODS[kind] * 5000, 5.0))
    assert await asyncio.to_thread(raw.close_code) == 1008
    await flooding
    raw.close()
    # The room is fine for everyone else.
    viewer = await Client.connect(shared_server, room)
    await viewer.send({"t": "ping"})
    await viewer.next_of("pong")
    await viewer.close()


async def test_a_steady_garbage_sender_is_rate_limited_then_closed_1008(shared_server: ServerProc) -> None:
    """Under the wire budget but over the app's 20 frames a second: the contract's rate_limited, then 1008."""
    room, _ = await make_room(shared_server)
    client = await Client.connect(shared_server, room)
    for _ in range(100):  # 100 a second: 10 at a time
        if client.closed_code is not None:
            break
        for _ in range(10):
            with contextlib.suppress(websockets.ConnectionClosed):
                await client.send("xx")
        await asyncio.sleep(0.1)
    assert await client.closed(10) == 1008
    codes = [e["code"] for e in client.events if e.get("t") == "error"]
    assert codes[0] == "bad_request" and "rate_limited" in codes, codes[:60]
    assert all(e.get("retry_after_ms", 1) > 0 for e in client.events if e.get("code") == "rate_limited")


async def test_a_client_that_pings_and_never_reads_is_cut_off_with_memory_bounded(start_server) -> None:  # type: ignore[no-untyped-def]
    # No wire budget here, so the write bound alone has to stop it.
    server = start_server(env={"LIVE_WIRE_FRAMES_PER_S": "0", "LIVE_OUTBOX_MAX_BYTES": str(256 << 10)})
    room, _ = await make_room(server)
    rss_before = rss_kib(server.proc.pid)
    raw = await asyncio.to_thread(RawWebSocket, server, f"/ws/{room}", 4096)
    # Pings (each answered with a pong the client never reads) and a few other frames.
    chunk = client_frame(PING, b"p" * 125) * 500 + client_frame(TEXT, b'{"t":"ping"}')
    started = time.monotonic()
    sent = await asyncio.to_thread(flood, raw, chunk, 30.0)
    assert time.monotonic() - started < 25, "the server never cut the socket off"
    raw.close()
    grown_mib = (rss_kib(server.proc.pid) - rss_before) / 1024
    # Before the fix: +347 MB in 30 s. Kernel socket buffers hold a few MB outside the process.
    assert grown_mib < 40, f"RSS grew {grown_mib:.0f} MiB after {sent >> 20} MiB of pings"
    assert 'code="4008"' in await asyncio.to_thread(metric, server, "live_disconnects_total")


def _stall(server: ServerProc, request_start: bytes) -> Callable[[], float | None]:
    sock = socket.create_connection((server.host, server.port))
    if request_start:
        sock.sendall(request_start)
    started = time.monotonic()

    def closed_after() -> float | None:
        sock.settimeout(15)
        try:
            while sock.recv(4096):
                pass
        except TimeoutError:
            return None
        except ConnectionResetError:
            pass
        finally:
            sock.close()
        return time.monotonic() - started

    return closed_after


async def test_slowloris_sockets_are_closed_at_the_handshake_deadline(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(env={"LIVE_HANDSHAKE_TIMEOUT_S": "1"})
    room, _ = await make_room(server)
    stalls = [
        b"",  # connects and says nothing
        b"GET /heal",  # half a request line
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",  # headers that never end
        f"GET /ws/{room} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n".encode(),
    ] * 5
    waits = [await asyncio.to_thread(_stall, server, start) for start in stalls]
    # Meanwhile a real client is served as usual.
    viewer = await Client.connect(server, room)
    closed = await asyncio.gather(*(asyncio.to_thread(wait) for wait in waits))
    assert all(after is not None for after in closed), closed
    await viewer.send({"t": "ping"})
    await viewer.next_of("pong")  # the deadline ends with the handshake, not with the socket
    await viewer.close()


async def _refused(server: ServerProc, room: str) -> bool:
    try:
        ws = await websockets.connect(f"{server.ws_url}/ws/{room}", compression=None, open_timeout=10)
    except websockets.InvalidStatus as err:
        assert err.response.status_code == 503
        return True
    except (ConnectionResetError, websockets.InvalidMessage):
        return True
    await ws.close()
    return False


async def _admitted_soon(server: ServerProc, room: str) -> Client:
    """A viewer, once the server has seen earlier sockets go (their release is not instant)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return await Client.connect(server, room)
        except (websockets.InvalidStatus, ConnectionResetError, websockets.InvalidMessage):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_sockets_per_address_are_capped_and_released_after_upgrades(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(env={"LIVE_MAX_CONNS_PER_IP": "5"})
    room, _ = await make_room(server)
    viewers = [await _admitted_soon(server, room) for _ in range(5)]
    assert await _refused(server, room)
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(server.url + "/healthz")).status_code == 503  # HTTP counts too
    for viewer in viewers:  # the five keep working
        await viewer.send({"t": "ping"})
        await viewer.next_of("pong")
    for viewer in viewers[:2]:
        await viewer.close()
    # Places held by upgraded sockets come back when they close.
    viewers = viewers[2:] + [await _admitted_soon(server, room) for _ in range(2)]
    assert await _refused(server, room)
    for viewer in viewers:
        await viewer.close()
    for _ in range(3):
        await (await _admitted_soon(server, room)).close()
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(10):  # kept-alive: one socket
            assert (await http.get(server.url + "/healthz")).status_code == 200


def _send_invalid_utf8(server: ServerProc, room: str) -> int | None:
    raw = RawWebSocket(server, f"/ws/{room}")
    raw.sock.sendall(client_frame(TEXT, b"\xff\xfe not utf-8"))
    code = raw.close_code()
    raw.close()
    return code


async def test_invalid_utf8_closes_1007_and_logs_a_line_not_a_traceback(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    room, _ = await make_room(server)
    codes = await asyncio.gather(*(asyncio.to_thread(_send_invalid_utf8, server, room) for _ in range(50)))
    assert codes == [1007] * 50
    server.stop()
    log = server.log_path.read_text()
    assert "Traceback" not in log
    assert sum("UTF-8" in line for line in log.splitlines()) <= 2, log[-3000:]


async def test_shutdown_tells_every_viewer_1012_while_a_closing_socket_is_stuck(start_server) -> None:  # type: ignore[no-untyped-def]
    # No bounds, so that the stuck socket's pongs stay queued in the server (the case bounds cut short).
    server = start_server(env={"LIVE_WIRE_FRAMES_PER_S": "0", "LIVE_OUTBOX_MAX_BYTES": "0"})
    room, _ = await make_room(server)
    viewers = [await Client.connect(server, room) for _ in range(8)]
    stuck = await asyncio.to_thread(RawWebSocket, server, f"/ws/{room}", 4096)
    # Megabytes of pongs it never reads, then its own close: the server echoes it and closes,
    # but that close waits behind the unsent pongs.
    pings = client_frame(PING, b"p" * 125)
    await asyncio.to_thread(
        stuck.sock.sendall, pings * 100_000 + client_frame(CLOSE, struct.pack("!H", 1000))
    )
    await asyncio.sleep(0.5)
    server.proc.terminate()
    codes = [await viewer.closed(10) for viewer in viewers]
    assert codes == [1012] * len(viewers)
    assert await asyncio.to_thread(server.proc.wait, 15) == 0
    stuck.close()
    server.stop()
    assert "Traceback" not in server.log_path.read_text()
