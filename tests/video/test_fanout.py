"""Fanout and Subscriber: bounded per-viewer queues, keyframe gating, never awaiting a viewer."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiortc.mediastreams import MediaStreamError

from live.video.fanout import Fanout


def packet(size: int, keyframe: bool) -> av.Packet:
    p = av.Packet(bytes(size))
    p.is_keyframe = keyframe
    return p


class Asks:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


async def test_every_viewer_gets_the_same_packets_starting_at_a_keyframe() -> None:
    asks = Asks()
    fan = Fanout("video", max_bytes=10_000, gated=True, on_keyframe_needed=asks)
    subs = [fan.subscribe() for _ in range(3)]
    assert asks.count == 3  # each join asks for a keyframe
    delta, key, after = packet(100, False), packet(500, True), packet(100, False)
    for p in (delta, key, after):
        fan.publish(p)
    for sub in subs:
        assert await sub.get() is key  # the very same object: encoded once, read by every sender
        assert await sub.get() is after
        assert sub.queued_bytes == 0


async def test_a_slow_video_viewer_skips_to_the_next_keyframe_and_asks_for_one() -> None:
    asks = Asks()
    fan = Fanout("video", max_bytes=1000, gated=True, on_keyframe_needed=asks)
    slow, fast = fan.subscribe(), fan.subscribe()
    fan.publish(packet(400, True))
    assert await fast.get() is not None
    for _ in range(4):
        fan.publish(packet(300, False))
        await fast.get()
    assert asks.count == 3  # two joins, then the slow one overflowed
    assert slow.queued_bytes == 0 and slow.dropped == 5  # its backlog and what came after
    fan.publish(packet(300, False))  # still no keyframe: nothing for the slow one
    assert slow.queued_bytes == 0
    key = packet(400, True)
    fan.publish(key)
    assert await slow.get() is key
    assert fan.dropped_total() == 6


async def test_a_slow_audio_viewer_drops_its_backlog_and_goes_on() -> None:
    fan = Fanout("audio", max_bytes=500, gated=False, on_keyframe_needed=Asks())
    sub = fan.subscribe()
    packets = [packet(200, True) for _ in range(3)]
    for p in packets:
        fan.publish(p)
    assert await sub.get() is packets[2]
    assert sub.dropped == 2


async def test_get_waits_for_a_packet_and_close_ends_it() -> None:
    fan = Fanout("audio", max_bytes=500, gated=False, on_keyframe_needed=Asks())
    sub = fan.subscribe()
    waiting = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    p = packet(10, True)
    fan.publish(p)
    assert await waiting is p
    waiting = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)
    fan.close()
    with pytest.raises(MediaStreamError):
        await waiting
    assert len(fan) == 0
    late = fan.subscribe()
    with pytest.raises(MediaStreamError):
        await late.get()


async def test_unsubscribe_forgets_the_viewer() -> None:
    fan = Fanout("audio", max_bytes=500, gated=False, on_keyframe_needed=Asks())
    sub = fan.subscribe()
    fan.unsubscribe(sub)
    fan.unsubscribe(sub)
    assert len(fan) == 0
    fan.publish(packet(10, True))
    with pytest.raises(MediaStreamError):
        await sub.get()
