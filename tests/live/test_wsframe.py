"""A pre-built server frame is exactly what websockets itself would send, at every length encoding."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from live.wsframe import text_frame


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 300_000])
def test_a_prebuilt_frame_matches_websockets_own_and_parses_back(n: int) -> None:
    payload = ("中" * (n // 3) + "x" * (n % 3)).encode()
    wire = text_frame(payload)
    assert wire == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    reader = StreamReader()
    reader.feed_data(wire)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    else:
        raise AssertionError("the frame did not parse from its own bytes")
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload
