"""Many WebSocket viewers from one asyncio process, each as cheap as it can be: a raw socket that
sends the opening handshake, answers pings, records the close code and skips everything else
(a subclass may look at the text frames: bench/_harness.py's PassiveViewer).

For tests and benches that need thousands of connected viewers (a drain on SIGTERM, a fan-out)
on a small machine, where a full client library per socket would be the bottleneck.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Callable
from typing import cast

NO_CLOSE_FRAME = 1006  # the socket ended without a close frame
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux 4.2+
SOURCE_ADDRESSES = 250  # 127.0.0.2 … 127.0.0.251


async def connect_loopback(
    factory: Callable[[], asyncio.BaseProtocol], host: str, port: int, index: int
) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
    """``loop.create_connection``, from one of 250 loopback source addresses when the server is
    on 127.x: with tens of thousands of sockets from 127.0.0.1 alone, the kernel's search for
    a free local port in every ``connect`` grows with the ports in use (28,000 on this machine)
    until it costs the load generator more than the joins cost the server. The port is picked
    at ``connect`` (``IP_BIND_ADDRESS_NO_PORT``), where it need only be unique per address."""
    loop = asyncio.get_running_loop()
    if not host.startswith("127."):
        return await loop.create_connection(factory, host, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((f"127.0.0.{2 + index % SOURCE_ADDRESSES}", 0))
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return await loop.create_connection(factory, sock=sock)


class RawViewer(asyncio.Protocol):
    def __init__(self, path: str, host: str, opened: asyncio.Future[None]) -> None:
        self.path, self.host, self.opened = path, host, opened
        self.buf = bytearray()
        self.handshaken = False
        self.close_code: int | None = None  # from the server's close frame
        self.lost = asyncio.get_running_loop().create_future()  # done when the socket is gone
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
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
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(self.buf[:end].decode(errors="replace")))
                return
            del self.buf[: end + 4]
            self.handshaken = True
            if not self.opened.done():
                self.opened.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buf, pos = self.buf, 0
        while len(buf) - pos >= 2:
            opcode, length, head = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if len(buf) - pos < head + length:
                break
            self.frame(opcode, buf, pos + head, length)
            pos += head + length
        del buf[:pos]

    def frame(self, opcode: int, buf: bytearray, start: int, length: int) -> None:
        """One whole server frame (unmasked, unfragmented); its payload is ``buf[start:start+length]``.

        Answers pings (so the server's keepalive never drops us) and the close; a subclass that
        wants the text frames overrides this and calls it for the rest.
        """
        if opcode == 0x9:
            self._send(0xA, bytes(buf[start : start + length]))
        elif opcode == 0x8 and self.close_code is None:
            payload = bytes(buf[start : start + length])
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self._send(0x8, payload[:2])

    def _send(self, opcode: int, payload: bytes) -> None:
        """A masked control frame, as a client must send it."""
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("lost before the handshake"))
        if not self.lost.done():
            self.lost.set_result(None)

    @property
    def code(self) -> int:
        return self.close_code if self.close_code is not None else NO_CLOSE_FRAME

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_viewers(host: str, port: int, path: str, n: int, at_once: int = 200) -> list[RawViewer]:
    """Open ``n`` viewers of ``path``, at most ``at_once`` handshakes in flight."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(at_once)

    async def one(index: int) -> RawViewer:
        async with gate:
            opened: asyncio.Future[None] = loop.create_future()
            _, protocol = await connect_loopback(lambda: RawViewer(path, host, opened), host, port, index)
            viewer = cast(RawViewer, protocol)
            try:
                await opened
            except BaseException:
                viewer.close()
                raise
            return viewer

    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    viewers = [r for r in results if isinstance(r, RawViewer)]
    errors = [r for r in results if not isinstance(r, RawViewer)]
    if errors:
        for viewer in viewers:
            viewer.close()
        await asyncio.gather(*(v.lost for v in viewers))
        raise ConnectionError(f"{len(errors)} of {n} viewers could not connect: {errors[0]!r}")
    return viewers
