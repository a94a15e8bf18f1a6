"""The WebSocket opening request built from uvicorn's parsed request (live/ws_request.py).

Each check websockets' own parser made on the re-serialized request must give the same answer
here; the end-to-end cases send the raw bytes to a real server.
"""

from __future__ import annotations

import base64
import os
import socket
from http import HTTPStatus

import pytest
from websockets.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS, Request

from live.ws_request import Refusal, opening_request
from tests.live.ws_kit import KEY, OPENING
from tests.support import ServerProc


def test_a_plain_upgrade_becomes_the_request_websockets_would_have_parsed() -> None:
    request = opening_request("GET", b"/ws/room?since=5", [*OPENING, (b"x-caf\xe9", b"caf\xe9")])
    assert isinstance(request, Request)
    assert (request.method, request.path) == ("GET", "/ws/room?since=5")
    assert request.headers["Sec-WebSocket-Key"] == KEY.decode()
    assert request.headers["x-café"] == "café"  # ISO-8859-1, as websockets decodes header values
    assert list(request.headers.raw_items())[:2] == [("host", "127.0.0.1:8000"), ("upgrade", "websocket")]


@pytest.mark.parametrize(
    ("target", "extra", "status"),
    [
        (b"/" + b"a" * MAX_LINE_LENGTH, [], HTTPStatus.REQUEST_URI_TOO_LONG),
        (b"/ws/r", [(b"x-big", b"v" * MAX_LINE_LENGTH)], HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE),
        (
            b"/ws/r",
            [(f"x-{i}".encode(), b"1") for i in range(MAX_NUM_HEADERS)],
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
        ),
        (b"/ws/caf\xc3\xa9", [], HTTPStatus.BAD_REQUEST),
        (b"/ws/r", [(b"transfer-encoding", b"chunked")], HTTPStatus.BAD_REQUEST),
        (b"/ws/r", [(b"content-length", b"5")], HTTPStatus.BAD_REQUEST),
    ],
    ids=["long-target", "long-header", "too-many-headers", "non-ascii-target", "chunked", "body"],
)
def test_what_websockets_parser_refused_is_refused_with_its_status(
    target: bytes, extra: list[tuple[bytes, bytes]], status: HTTPStatus
) -> None:
    refusal = opening_request("GET", target, OPENING + extra)
    assert isinstance(refusal, Refusal)
    assert refusal.status == status


def test_an_empty_body_is_no_body() -> None:
    assert isinstance(opening_request("GET", b"/ws/r", [*OPENING, (b"content-length", b"0")]), Request)


def upgrade_status(server: ServerProc, method: str, target: str, extra: str = "") -> bytes:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"{method} {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n".encode()
        )
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        return head.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    ("method", "extra", "status"),
    [
        ("GET", "", b"HTTP/1.1 101 Switching Protocols"),
        ("POST", "", b"HTTP/1.1 405 Method Not Allowed"),
        ("GET", "Content-Length: 5\r\n", b"HTTP/1.1 400 Bad Request"),
        (
            "GET",
            "".join(f"X-{i}: 1\r\n" for i in range(MAX_NUM_HEADERS)),
            b"HTTP/1.1 431 Request Header Fields Too Large",
        ),
    ],
    ids=["upgrade", "post", "body", "too-many-headers"],
)
def test_a_real_server_answers_each_upgrade_as_websockets_would(
    shared_server: ServerProc, method: str, extra: str, status: bytes
) -> None:
    assert upgrade_status(shared_server, method, "/ws/no-such-room-needed", extra) == status
