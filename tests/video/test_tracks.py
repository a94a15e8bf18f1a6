"""RelayTrack: what a viewer's sender reads; subscribes late, ends cleanly."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiortc.mediastreams import MediaStreamError

from live.video.fanout import Fanout
from live.video.tracks import RelayTrack


def keyframe() -> av.Packet:
    p = av.Packet(b"\x00" * 10)
    p.is_keyframe = True
    return p


async def test_subscribes_on_first_recv_and_returns_packets() -> None:
    fan = Fanout("video", max_bytes=1000, gated=True, on_keyframe_needed=lambda: None)
    track = RelayTrack(fan)
    assert track.kind == "video"
    assert len(fan) == 0  # a viewer still connecting costs the room nothing
    fan.publish(keyframe())  # before this viewer's time: not queued for it
    task = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    assert len(fan) == 1
    p = keyframe()
    fan.publish(p)
    assert await task is p
    track.stop()
    assert len(fan) == 0
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_the_end_of_the_stream_ends_the_track() -> None:
    fan = Fanout("audio", max_bytes=1000, gated=False, on_keyframe_needed=lambda: None)
    track = RelayTrack(fan)
    fan.close()
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.readyState == "ended"
