"""The common WebSocket opening handshake, answered without websockets' general machinery.

A join storm pays for every step of an opening: websockets builds a ``Headers`` of the request,
checks it, builds a ``Headers`` of its answer (formatting a date uvicorn then deletes), and
uvicorn copies both again; about a fifth of the server's CPU per join at 10,000 joins
(docs/benchmarks.md). Nearly every opening is the same request: ``GET`` with one ``Upgrade:
websocket``, ``Connection: Upgrade`` (``keep-alive, Upgrade`` from Firefox), one valid key,
version 13, no subprotocol.

``quick_opening`` recognises exactly such a request, with checks that accept a subset of what
websockets accepts and agree with it there; anything else (any refusal included) returns None
and goes through websockets as before, so every refusal keeps websockets' status and text.
``switching_protocols`` writes the ``101`` byte for byte as uvicorn and websockets would
(tests/live/test_ws_handshake.py holds both side by side).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from websockets.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS
from websockets.utils import accept_key

_TOKEN_LIST = re.compile(
    rb"[ \t]*[-!#$%&'*+.^_`|~0-9a-zA-Z]+(?:[ \t]*,[ \t]*[-!#$%&'*+.^_`|~0-9a-zA-Z]+)*[ \t]*"
)
_ONCE = (b"upgrade", b"sec-websocket-key", b"sec-websocket-version")
_NEVER = (b"sec-websocket-protocol", b"transfer-encoding", b"content-length")


@dataclass(frozen=True, slots=True)
class QuickOpening:
    accept: str  # the Sec-WebSocket-Accept value
    origin: str | None


def quick_opening(method: str, target: bytes, headers: Sequence[tuple[bytes, bytes]]) -> QuickOpening | None:
    """The opening, if this parsed request is the common one websockets would accept; else None.

    ``headers`` as uvicorn's parser gives them: lower-case names, values as sent.
    """
    if method != "GET" or len(headers) > MAX_NUM_HEADERS or not target.isascii():
        return None
    if len(method) + len(target) + 12 > MAX_LINE_LENGTH:
        return None
    seen: dict[bytes, bytes] = {}
    upgrade_ok = False
    for name, value in headers:
        if len(name) + len(value) + 4 > MAX_LINE_LENGTH or not name.isascii():
            return None
        if name in _NEVER:
            return None
        if name == b"connection":
            if not _TOKEN_LIST.fullmatch(value):
                return None
            upgrade_ok = upgrade_ok or any(t.strip(b" \t").lower() == b"upgrade" for t in value.split(b","))
            continue
        if name in _ONCE or name == b"origin":
            if name in seen:
                return None  # websockets refuses or reads a list: its own answer
            seen[name] = value
    if not upgrade_ok or seen.get(b"upgrade", b"").lower() != b"websocket":
        return None
    if seen.get(b"sec-websocket-version") != b"13":
        return None
    key = seen.get(b"sec-websocket-key")
    if key is None:
        return None
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except binascii.Error:
        return None
    key_text = key.decode("latin-1")
    origin = seen.get(b"origin")
    return QuickOpening(accept_key(key_text), None if origin is None else origin.decode("latin-1"))


def switching_protocols(
    accept: str,
    default_headers: Sequence[tuple[bytes, bytes]],
    headers: Sequence[tuple[bytes, bytes]] = (),
    subprotocol: str | None = None,
) -> bytes:
    """uvicorn's ``101`` for an app's ``websocket.accept`` with these headers and subprotocol.

    As uvicorn makes it: websockets' Upgrade, Connection and Sec-WebSocket-Accept, then the
    server's default headers and the app's, names lower-cased, values as given, then the
    subprotocol (ISO-8859-1 throughout, as websockets writes headers).
    """
    lines = [
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n"
    ]
    for name, value in (*default_headers, *headers):
        lower = name.lower() if name.isascii() else name.decode("latin-1").lower().encode("latin-1")
        lines.append(lower + b": " + value + b"\r\n")
    if subprotocol:
        lines.append(b"Sec-WebSocket-Protocol: " + subprotocol.encode("latin-1") + b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)
