"""RoomRelay: one decode and one encode per room, whatever the number of viewers; sources swap."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiortc.mediastreams import MediaStreamError

from live.video.lanes import LaneCounters
from live.video.relay import RelaySettings, RoomRelay

from .media import PatternVideoTrack, ToneAudioTrack


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2, thread_name_prefix="test-relay")
    yield pool
    pool.shutdown(wait=True)


async def test_every_viewer_gets_the_same_packets_from_one_encode(executor: ThreadPoolExecutor) -> None:
    counters = LaneCounters()
    relay = RoomRelay(settings=RelaySettings(), executor=executor, counters=counters)
    video, audio = PatternVideoTrack(60, fps=30), ToneAudioTrack(440.0)
    try:
        relay.set_source([video, audio], on_ended=lambda: None)
        viewers = [relay.video.subscribe() for _ in range(10)]
        listeners = [relay.audio.subscribe() for _ in range(10)]
        got = [[await asyncio.wait_for(v.get(), 5.0) for _ in range(15)] for v in viewers]
        for packets in got[1:]:
            assert all(a is b for a, b in zip(packets, got[0], strict=True))
        assert got[0][0].is_keyframe
        heard = [await asyncio.wait_for(sub.get(), 5.0) for sub in listeners]
        assert all(p is heard[0] for p in heard)
        # Ten viewers, yet no more encodes than source frames.
        assert 15 <= counters.video_frames_encoded <= video.sent
    finally:
        await relay.close()
        video.stop()
        audio.stop()


async def test_a_new_source_replaces_the_old_and_only_the_current_one_can_end_the_room(
    executor: ThreadPoolExecutor,
) -> None:
    relay = RoomRelay(settings=RelaySettings(), executor=executor, counters=LaneCounters())
    ended: list[str] = []
    first, second = PatternVideoTrack(60, fps=30), PatternVideoTrack(190, fps=30)
    try:
        relay.set_source([first], on_ended=lambda: ended.append("first"))
        viewer = relay.video.subscribe()
        await asyncio.wait_for(viewer.get(), 5.0)
        relay.set_source([second], on_ended=lambda: ended.append("second"))
        first.stop()
        # The swap makes the next packet a keyframe (from the new source).
        while not (await asyncio.wait_for(viewer.get(), 5.0)).is_keyframe:
            pass
        await asyncio.sleep(0.1)
        assert ended == []  # the replaced source ending is nobody's business
        second.stop()
        for _ in range(50):
            if ended:
                break
            await asyncio.sleep(0.02)
        assert ended == ["second"]
    finally:
        await relay.close()
    with pytest.raises(MediaStreamError):
        await viewer.get()
    with pytest.raises(RuntimeError):
        relay.set_source([], on_ended=lambda: None)


async def test_a_source_without_tracks_ends_at_once(executor: ThreadPoolExecutor) -> None:
    relay = RoomRelay(settings=RelaySettings(), executor=executor, counters=LaneCounters())
    ended: list[bool] = []
    try:
        relay.set_source([], on_ended=lambda: ended.append(True))
        assert ended == [True]
    finally:
        await relay.close()
