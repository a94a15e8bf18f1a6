"""The quick opening handshake (``live.ws_handshake``) against websockets' own, side by side.

Every request either goes the quick way and is answered byte for byte as websockets and uvicorn
would answer it, with the same ASGI scope, or is left to websockets.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.protocol import State
from websockets.server import ServerProtocol

from live.ws_handshake import quick_opening
from live.ws_request import Refusal, opening_request
from tests.live.ws_kit import KEY, OPENING, protocol_for

CHROME = [
    (b"host", b"live.example:443"),
    (b"connection", b"Upgrade"),
    (b"pragma", b"no-cache"),
    (b"cache-control", b"no-cache"),
    (b"user-agent", b"Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile Safari/537.36"),
    (b"upgrade", b"websocket"),
    (b"origin", b"https://live.example"),
    (b"sec-websocket-version", b"13"),
    (b"accept-encoding", b"gzip, deflate, br, zstd"),
    (b"accept-language", b"zh-CN,zh;q=0.9,en;q=0.8"),
    (b"sec-websocket-key", KEY),
    (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
]
FIREFOX = [
    *OPENING[:2],
    (b"connection", b"keep-alive, Upgrade"),
    *OPENING[3:],
    (b"sec-fetch-mode", b"websocket"),
]


def without(name: bytes, headers: list[tuple[bytes, bytes]] = OPENING) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in headers if n != name]


def replaced(
    name: bytes, value: bytes, headers: list[tuple[bytes, bytes]] = OPENING
) -> list[tuple[bytes, bytes]]:
    return [(n, value if n == name else v) for n, v in headers]


COMMON = {
    "bot": ("GET", b"/ws/demo", OPENING),
    "chrome": ("GET", b"/ws/demo?token=a.b-c_d&since=12", CHROME),
    "firefox": ("GET", b"/ws/demo", FIREFOX),
    "escaped path": ("GET", b"/ws/de%20mo?x=%2F", OPENING),
    "Upgrade in capitals": ("GET", b"/ws/demo", replaced(b"upgrade", b"WebSocket")),
    "connection in a list": ("GET", b"/ws/demo", replaced(b"connection", b"keep-alive ,\tupgrade")),
}
LEFT_TO_WEBSOCKETS = {
    "POST": ("POST", b"/ws/demo", OPENING),
    "no key": ("GET", b"/ws/demo", without(b"sec-websocket-key")),
    "two keys": ("GET", b"/ws/demo", [*OPENING, (b"sec-websocket-key", KEY)]),
    "short key": ("GET", b"/ws/demo", replaced(b"sec-websocket-key", b"c2hvcnQ=")),
    "key not base64": ("GET", b"/ws/demo", replaced(b"sec-websocket-key", b"!" * 24)),
    "version 8": ("GET", b"/ws/demo", replaced(b"sec-websocket-version", b"8")),
    "no version": ("GET", b"/ws/demo", without(b"sec-websocket-version")),
    "two versions": ("GET", b"/ws/demo", [*OPENING, (b"sec-websocket-version", b"13")]),
    "upgrade to two": ("GET", b"/ws/demo", replaced(b"upgrade", b"websocket, h2c")),
    "no upgrade": ("GET", b"/ws/demo", without(b"upgrade")),
    "connection close": ("GET", b"/ws/demo", replaced(b"connection", b"close")),
    "connection, empty element": ("GET", b"/ws/demo", replaced(b"connection", b", Upgrade")),
    "connection, bad token": ("GET", b"/ws/demo", replaced(b"connection", b"Up grade")),
    "subprotocol": ("GET", b"/ws/demo", [*OPENING, (b"sec-websocket-protocol", b"chat")]),
    "two origins": ("GET", b"/ws/demo", [*OPENING, (b"origin", b"https://a"), (b"origin", b"https://b")]),
    "a body": ("GET", b"/ws/demo", [*OPENING, (b"content-length", b"0")]),
    "chunked": ("GET", b"/ws/demo", [*OPENING, (b"transfer-encoding", b"chunked")]),
    "non-ASCII target": ("GET", "/ws/démo".encode(), OPENING),
    "long target": ("GET", b"/ws/demo?" + b"x" * 8200, OPENING),
    "long header": ("GET", b"/ws/demo", [*OPENING, (b"cookie", b"x" * 8200)]),
    "many headers": ("GET", b"/ws/demo", [*OPENING, *[(b"x-%d" % i, b"1") for i in range(130)]]),
}


def websockets_answer(
    method: str, target: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, str | None]:
    """websockets' own verdict on a request: its status and Sec-WebSocket-Accept."""
    request = opening_request(method, target, headers)
    if isinstance(request, Refusal):
        return int(request.status), None
    response = ServerProtocol(extensions=[]).accept(request)
    return response.status_code, response.headers.get("Sec-WebSocket-Accept")


@pytest.mark.parametrize("case", COMMON)
def test_a_common_opening_is_answered_quickly_with_the_key_websockets_would_give(case: str) -> None:
    method, target, headers = COMMON[case]
    quick = quick_opening(method, target, headers)
    assert quick is not None
    assert websockets_answer(method, target, headers) == (101, quick.accept)


@pytest.mark.parametrize("case", LEFT_TO_WEBSOCKETS)
def test_anything_else_is_left_to_websockets(case: str) -> None:
    method, target, headers = LEFT_TO_WEBSOCKETS[case]
    assert quick_opening(method, target, headers) is None


def test_an_origin_is_kept_as_websockets_keeps_it() -> None:
    quick = quick_opening("GET", b"/ws/demo", CHROME)
    assert quick is not None and quick.origin == "https://live.example"


async def opened(
    quick: bool, target: bytes, headers: list[tuple[bytes, bytes]], accept: dict[str, Any]
) -> Any:
    """(what was written, the app's scope, websockets' state) after the app accepts."""
    scopes: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.accept", **accept})

    protocol, transport, state = protocol_for(app)
    if quick:
        protocol.open_parsed("GET", target, headers)
    else:
        protocol.open_through_websockets("GET", target, headers)
    await asyncio.wait_for(asyncio.gather(*state.tasks), 5)
    return transport.written, scopes[0], protocol.conn.state


ACCEPTS = {
    "plain": {},
    "headers and a subprotocol": {
        "headers": [(b"X-Shop", b"caf\xe9"), (b"X-\xc9T\xc9", b"1")],
        "subprotocol": "live.v1",
    },
}


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("case", COMMON)
async def test_the_quick_way_writes_and_scopes_exactly_what_websockets_would(case: str, accept: str) -> None:
    _, target, headers = COMMON[case]
    quick = await opened(True, target, headers, ACCEPTS[accept])
    slow = await opened(False, target, headers, ACCEPTS[accept])
    assert quick == slow
    written, scope, state = quick
    assert written[0].startswith(b"HTTP/1.1 101 Switching Protocols\r\n") and state is State.OPEN
    assert scope["path"].startswith("/ws/de")
