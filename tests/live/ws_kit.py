"""A ``LiveWebSocketProtocol`` in process, on a transport that records what it was given.

For tests that hold two ways of doing one thing side by side (the quick handshake and frame
reading against websockets' own), where what matters is the bytes and messages each produces.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from live.ws_protocol import LiveWebSocketProtocol

FIXED_DATE = (b"date", b"Thu, 03 Dec 2026 09:00:00 GMT")
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example
# The opening's headers as uvicorn's parser hands them over: the least a client must send.
OPENING = [
    (b"host", b"127.0.0.1:8000"),
    (b"upgrade", b"websocket"),
    (b"connection", b"Upgrade"),
    (b"sec-websocket-key", KEY),
    (b"sec-websocket-version", b"13"),
]


class RecordingTransport(asyncio.Transport):
    """What the protocol wrote; no socket, so the scope has no client or server address."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def protocol_for(
    app: Any, max_size: int = 1 << 20
) -> tuple[LiveWebSocketProtocol, RecordingTransport, ServerState]:
    """A connected protocol serving ``app``, with a fixed date header (no keepalive pings)."""
    config = uvicorn.Config(
        app, ws_per_message_deflate=False, proxy_headers=False, ws_ping_interval=None, ws_max_size=max_size
    )
    config.load()
    state = ServerState()
    state.default_headers = [FIXED_DATE, (b"server", b"uvicorn")]
    protocol = LiveWebSocketProtocol(config=config, server_state=state, app_state={"k": 1})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport, state
