"""The WebSocket opening request, built from what uvicorn's HTTP parser already holds.

On upgrade, uvicorn writes the parsed request back out as bytes and feeds them to websockets,
which parses them a second time: about a tenth of the server's CPU per join at 10,000 joins
(docs/benchmarks.md). ``opening_request`` makes websockets' ``Request`` from the parsed parts
instead, and applies the checks websockets' parser would have made, with the same answers:

- a request line or header line over ``MAX_LINE_LENGTH`` bytes: 414 or 431;
- more than ``MAX_NUM_HEADERS`` headers: 431;
- a non-ASCII target, a body (``Transfer-Encoding``, a ``Content-Length`` other than 0): 400.

What is left (the method, ``Upgrade``, ``Connection``, the key and version) is checked by
websockets' ``ServerProtocol.accept`` as before. Header values are decoded as ISO-8859-1, as
websockets decodes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus

from websockets.datastructures import Headers
from websockets.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS, Request


@dataclass(frozen=True, slots=True)
class Refusal:
    status: HTTPStatus
    reason: str  # completes "Failed to open a WebSocket connection: ..."


def opening_request(method: str, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> Request | Refusal:
    """websockets' ``Request`` for this parsed HTTP request, or why it cannot open a WebSocket."""
    # The line websockets would have read: "<method> <target> HTTP/1.1\r\n".
    if len(method) + len(target) + 12 > MAX_LINE_LENGTH:
        return Refusal(HTTPStatus.REQUEST_URI_TOO_LONG, "line too long")
    pairs: list[tuple[str, str]] = []
    for name, value in headers:
        if len(pairs) == MAX_NUM_HEADERS:
            return Refusal(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"expected no more than {MAX_NUM_HEADERS} headers"
            )
        if len(name) + len(value) + 4 > MAX_LINE_LENGTH:  # "<name>: <value>\r\n"
            return Refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "line too long")
        pairs.append((name.decode("latin-1"), value.decode("latin-1")))
    try:
        path = target.decode("ascii")
    except UnicodeDecodeError:
        return Refusal(HTTPStatus.BAD_REQUEST, "invalid request")
    parsed = Headers(pairs)
    if "Transfer-Encoding" in parsed or not set(parsed.get_all("Content-Length")) <= {"0"}:
        return Refusal(HTTPStatus.BAD_REQUEST, "invalid request")
    return Request(path, parsed, method)
