"""uvicorn's httptools protocol with a header deadline and a cap on sockets per client address.

- A request's headers must be complete within ``handshake_timeout_s``: from the socket's
  opening for the first request, from its first byte for each later one on a kept-alive
  socket (uvicorn's keep-alive timeout covers the idle time in between). A socket that sends
  half a request line and stalls (slowloris) is closed at the deadline. For a WebSocket the
  same deadline runs on, in ``live.ws_protocol``, until the app accepts.
- ``max_conns_per_ip`` concurrent sockets per address. A socket over the cap is answered
  503 as soon as its request arrives, or closed after ``REFUSED_GRACE_S`` if it sends nothing,
  and is not counted. The count is held by a lease that moves to the WebSocket protocol on
  upgrade (uvicorn swaps protocol objects then, and this one never hears of the end).
"""

from __future__ import annotations

from asyncio import TimerHandle
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from live.admission import Lease, TransportLimits
from live.ws_protocol import LiveWebSocketProtocol

REFUSED_GRACE_S = 1.0
_BUSY = b"too many connections from your address\n"
_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_BUSY)).encode() + b"\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"\r\n" + _BUSY
)


class LiveHttpProtocol(HttpToolsProtocol):
    limits: ClassVar[TransportLimits] = TransportLimits()

    @classmethod
    def configured(cls, limits: TransportLimits) -> type[LiveHttpProtocol]:
        """This class bound to one process's limits (uvicorn builds protocols from a class)."""
        return type(cls.__name__, (cls,), {"limits": limits})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lease: Lease | None = None
        self._refused = False
        self._header_timer: TimerHandle | None = None
        self._header_deadline_s: float | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        lease = self.limits.per_ip.acquire(self.client[0] if self.client else "")
        if lease is None:
            self._refused = True
            # Answered when its request comes in: closing with the request unread would reset
            # the socket, and the client would never see the 503.
            self._header_timer = self.loop.call_later(REFUSED_GRACE_S, self._close_now)
            return
        self._lease = lease
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        if self._lease is not None:
            self._lease.release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            if not self.transport.is_closing():
                self.transport.write(_BUSY_RESPONSE)
                self.transport.close()
            return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_deadline()  # a later request on a kept-alive socket

    def on_headers_complete(self) -> None:
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._cancel_header_deadline()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        deadline = self._header_deadline_s
        self._cancel_header_deadline()
        lease, self._lease = self._lease, None
        ws_class = self.ws_protocol_class
        if not (isinstance(ws_class, type) and issubclass(ws_class, LiveWebSocketProtocol)):
            if lease is not None:
                lease.release()  # a socket we cannot follow past the upgrade must not keep its place
            super().handle_websocket_upgrade()
            return
        # uvicorn's own, except that the parsed request is handed over, not its bytes again.
        protocol = ws_class(config=self.config, server_state=self.server_state, app_state=self.app_state)
        self.connections.discard(self)
        protocol.connection_made(self.transport)
        self.transport.set_protocol(protocol)
        protocol.open_parsed(self.scope["method"], self.url, self.scope["headers"])
        protocol.adopt(lease, deadline)
        # As uvicorn's connection_lost does, which this protocol will not hear now: the parser
        # holds this protocol's methods, a cycle only a full garbage collection would free.
        self.parser = None  # type: ignore[assignment]

    def _arm_header_deadline(self) -> None:
        timeout = self.limits.handshake_timeout_s
        if timeout <= 0 or self._header_timer is not None:
            return
        self._header_deadline_s = self.loop.time() + timeout
        self._header_timer = self.loop.call_at(self._header_deadline_s, self._close_now)

    def _cancel_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = None
        self._header_deadline_s = None

    def _close_now(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
