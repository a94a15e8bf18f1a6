"""A client's small text frames read without websockets' parser (``live.wsframe.client_text_frames``
in ``LiveWebSocketProtocol.data_received``), against websockets' own reading, side by side."""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import pytest
from websockets.frames import Close, Frame, Opcode

import live.ws_protocol
from live.wsframe import client_text_frames
from tests.live.ws_kit import OPENING, protocol_for


def client_frame(opcode: Opcode, payload: bytes, fin: bool = True, masked: bool = True) -> bytes:
    if not masked:
        return Frame(opcode, payload, fin).serialize(mask=False, extensions=[])
    # websockets masks with a random key: the reading must not depend on it.
    return Frame(opcode, payload, fin).serialize(mask=True, extensions=[])


def text(payload: bytes, **kw: Any) -> bytes:
    return client_frame(Opcode.TEXT, payload, **kw)


@pytest.mark.parametrize("n", [0, 1, 125, 126, 1000, 65535])
def test_whole_masked_text_frames_are_read_back(n: int) -> None:
    payloads = [os.urandom(n), b'{"t":"buy","id":"r1","pin":"p1","qty":1}', "中文".encode()]
    assert client_text_frames(b"".join(text(p) for p in payloads), None) == payloads


@pytest.mark.parametrize(
    "chunk",
    [
        pytest.param(text(b"abc")[:-1], id="cut short"),
        pytest.param(text(b"abc") + text(b"def")[:3], id="second cut short"),
        pytest.param(text(b"x" * 200)[:5], id="length cut"),
        pytest.param(text(b"abc", masked=False), id="unmasked"),
        pytest.param(text(b"abc", fin=False), id="a fragment"),
        pytest.param(client_frame(Opcode.BINARY, b"abc"), id="binary"),
        pytest.param(client_frame(Opcode.PING, b"abc"), id="ping"),
        pytest.param(
            text(b"ok") + client_frame(Opcode.CLOSE, Close(1000, "").serialize()), id="then a close"
        ),
        pytest.param(text(b"x" * 70_000), id="64 KiB or more"),
        pytest.param(bytes([0xC1]) + text(b"abc")[1:], id="a reserved bit"),
    ],
)
def test_anything_else_is_declined(chunk: bytes) -> None:
    assert client_text_frames(chunk, None) is None


def test_a_frame_over_max_size_is_declined() -> None:
    assert client_text_frames(text(b"x" * 11), 10) is None
    assert client_text_frames(text(b"x" * 10), 10) == [b"x" * 10]


async def served(chunks: list[bytes], max_size: int = 1 << 20) -> tuple[list[Any], list[bytes], bool]:
    """(what the app received, what the protocol wrote, whether the transport is closing)."""
    received: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            received.append(message)
            if message["type"] == "websocket.disconnect":
                return

    protocol, transport, state = protocol_for(app, max_size)
    protocol.open_parsed("GET", b"/ws/demo", OPENING)
    for _ in range(5):
        await asyncio.sleep(0)  # the app accepts
    for chunk in chunks:
        protocol.data_received(chunk)
        await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    await asyncio.wait_for(asyncio.gather(*state.tasks), 5)
    return received, transport.written[1:], transport.closing  # [0] is the 101


def split(data: bytes, *at: int) -> list[bytes]:
    cuts = [0, *at, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(cuts)]


BUY = b'{"t":"buy","id":"r1","pin":"p1","qty":1}'


def zero_masked(payload: bytes) -> bytes:
    """A text frame masked with a zero key: its payload is on the wire as it is."""
    return bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload


# A frame whose payload is itself a whole frame: cut where the payload starts, the second chunk
# looks like a command, and only knowing where frames start tells it is not one.
NESTED = zero_masked(zero_masked(b"abc"))
STREAMS = {
    "one command": [text(BUY)],
    "three in one chunk": [text(b"a") + text(b"b" * 130) + text(b"c")],
    "a frame cut across chunks, then whole ones": [*split(text(b"x" * 300), 3, 100), text(b"after")],
    "a cut at the header": [*split(text(b"a") + text(b"b"), 7), text(b"c")],
    "a payload that looks like a frame": [*split(NESTED, 6), text(b"after")],
    "a ping between commands": [text(b"a"), client_frame(Opcode.PING, b"p"), text(b"b")],
    "a fragmented message, then a command": [
        text(b"fir", fin=False),
        client_frame(Opcode.CONT, b"st"),
        text(b"second"),
    ],
    "a text frame inside a fragmented message": [text(b"fir", fin=False), text(b"bad")],
    "invalid UTF-8": [text(b"ok"), text(b"\xff\xfe"), text(b"never")],
    "over the size limit": [text(b"ok"), text(b"x" * 2000), text(b"never")],
    "unmasked": [text(b"ok"), text(b"bad", masked=False), text(b"never")],
    "a close": [text(b"ok"), client_frame(Opcode.CLOSE, Close(1000, "bye").serialize()), text(b"never")],
}


@pytest.mark.parametrize("stream", STREAMS)
async def test_the_app_gets_what_websockets_would_hand_it(
    stream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunks = STREAMS[stream]
    quick = await served(chunks, max_size=1000)
    monkeypatch.setattr(live.ws_protocol, "client_text_frames", lambda data, max_size: None)
    through_websockets = await served(chunks, max_size=1000)
    assert quick == through_websockets
    assert quick[0]  # the app heard something


async def test_commands_are_read_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick way is taken for whole commands (the comparison above would pass without it)."""
    calls: list[bytes] = []
    real = live.ws_protocol.client_text_frames

    def counting(data: bytes, max_size: int | None) -> list[bytes] | None:
        found = real(data, max_size)
        if found is not None:
            calls.append(data)
        return found

    monkeypatch.setattr(live.ws_protocol, "client_text_frames", counting)
    long = text(b"x" * 300)
    received, _, _ = await served([text(BUY), long[:10], long[10:], text(BUY)])
    assert len(calls) == 2  # the two whole commands; the cut frame went to websockets
    assert [m.get("text") for m in received[:3]] == [BUY.decode(), "x" * 300, BUY.decode()]
