"""A lean WebSocket client: websockets' sans-I/O ``ClientProtocol`` inside an ``asyncio.Protocol``.

Why not ``websockets.asyncio.client``: it hands each message through a queue and
a future to a reading task, which costs most of a core at 50,000 messages a
second (FINDINGS). Here a message is handled synchronously inside
``data_received``, with no task switch and no queue, so a worker process can hold
thousands of viewers. Sending writes to the transport directly; the bots send
little, so there is nothing to wait for.

The handler is any object with ``on_message(data: bytes)``; opening and closing
are reported through the ``opened`` and ``closed`` futures.
"""

from __future__ import annotations

import asyncio
from typing import Protocol as TypingProtocol

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from live.closecodes import ABNORMAL  # the connection ended without a close frame

CLOSE_TIMEOUT_S = 2.0


class MessageHandler(TypingProtocol):
    def on_message(self, data: bytes) -> None: ...


class HandshakeFailed(Exception):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class WsClient(asyncio.Protocol):
    """One WebSocket connection. Create it with ``connect``."""

    def __init__(self, uri: str, handler: MessageHandler, loop: asyncio.AbstractEventLoop) -> None:
        self.protocol = ClientProtocol(parse_uri(uri), max_size=8 * 2**20)
        self.handler = handler
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[tuple[int, str]] = loop.create_future()
        self.handler_errors = 0
        self._fragments: list[bytes] | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport subclass
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        self._flush()
        self._process_events()
        if self.protocol.close_expected():
            self._arm_close_timer()

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._flush()
        self._process_events()  # a refused handshake's response may end at EOF
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        self.protocol.receive_eof()  # moves the state to CLOSED if it was not yet
        self._process_events()
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionResetError("closed during the handshake"))
            self.opened.exception()  # retrieved here: nobody may be awaiting it any more
        if not self.closed.done():
            code = self.protocol.close_code if self.protocol.state is State.CLOSED else None
            reason = self.protocol.close_reason or ""
            self.closed.set_result((code if code is not None else ABNORMAL, reason))

    # -- use ----------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.protocol.state is State.OPEN

    def send_text(self, data: bytes) -> bool:
        """Send one text frame; False when the connection is not open."""
        if self.protocol.state is not State.OPEN:
            return False
        self.protocol.send_text(data)
        self._flush()
        return True

    def close(self, code: int = 1000) -> None:
        """Start the closing handshake; ``closed`` resolves when the TCP connection is gone."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code)
            self._flush()
            self._arm_close_timer()
        elif self.transport is not None and self.protocol.state is State.CONNECTING:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- inside -------------------------------------------------------------

    def _process_events(self) -> None:
        for event in self.protocol.events_received():
            if type(event) is Frame:
                opcode = event.opcode
                if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                    if event.fin:
                        self._deliver(event.data)  # type: ignore[arg-type]
                    else:
                        self._fragments = [bytes(event.data)]
                elif opcode is Opcode.CONT and self._fragments is not None:
                    self._fragments.append(bytes(event.data))
                    if event.fin:
                        data, self._fragments = b"".join(self._fragments), None
                        self._deliver(data)
                # PING, PONG and CLOSE are answered by the protocol itself.
            elif isinstance(event, Response):
                self._handshake_done(event)

    def _deliver(self, data: bytes) -> None:
        try:
            self.handler.on_message(data)
        except Exception:  # a bot bug must not take the connection down; it is counted
            self.handler_errors += 1

    def _handshake_done(self, response: Response) -> None:
        if self.opened.done():
            return
        exc = self.protocol.handshake_exc
        if exc is None:
            self.opened.set_result(None)
            return
        status = getattr(getattr(exc, "response", None), "status_code", None)
        error = HandshakeFailed(status, str(exc))
        if isinstance(exc, InvalidHandshake):
            error.__cause__ = exc
        self.opened.set_exception(error)
        self.opened.exception()  # retrieved here: nobody may be awaiting it any more

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and self.transport is not None:
            self._close_timer = self.loop.call_later(CLOSE_TIMEOUT_S, self.transport.abort)


async def connect(
    uri: str, handler: MessageHandler, host: str, port: int, timeout_s: float = 10.0
) -> WsClient:
    """Open a connection and complete the handshake, or raise (OSError, TimeoutError, HandshakeFailed)."""
    loop = asyncio.get_running_loop()
    client = WsClient(uri, handler, loop)
    async with asyncio.timeout(timeout_s):
        try:
            await loop.create_connection(lambda: client, host, port)
            await client.opened
        except BaseException:
            client.abort()
            raise
    return client
