"""VideoLane and AudioLane: one encode per frame in a worker thread, latest video frame wins."""

from __future__ import annotations

import asyncio
import fractions
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import pytest

from live.video.fanout import Fanout, Subscriber
from live.video.keyframes import KeyframePolicy
from live.video.lanes import AudioLane, LaneCounters, VideoLane

from .media import make_frame, pts


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1, thread_name_prefix="test-lane")
    yield pool
    pool.shutdown(wait=True)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def drain(sub: Subscriber, n: int) -> list[av.Packet]:
    return [await asyncio.wait_for(sub.get(), 5.0) for _ in range(n)]


async def test_video_latest_frame_wins_and_keyframes_follow_the_policy(executor: ThreadPoolExecutor) -> None:
    counters = LaneCounters()
    fan = Fanout("video", max_bytes=1 << 20, gated=True, on_keyframe_needed=lambda: None)
    sub = fan.subscribe()
    clock = Clock()
    lane = VideoLane(
        executor=executor,
        fanout=fan,
        policy=KeyframePolicy(interval_ms=1000),
        bitrate_bps=500_000,
        clock=clock,
        counters=counters,
    )
    try:
        for n in range(3):  # faster than the lane runs: only the last one is encoded
            lane.put(make_frame(n, 60, n * 6000))
        (first,) = await drain(sub, 1)
        assert first.is_keyframe
        assert counters.video_frames_skipped == 2
        for n in range(3, 20):
            clock.now += 1 / 15
            lane.put(make_frame(n, 60, n * 6000))
            await drain(sub, 1)
        assert counters.video_frames_encoded == 18
        assert counters.video_keyframes == 2  # the first, and one after a second
    finally:
        await lane.stop()


async def test_a_new_video_source_starts_with_a_keyframe_on_the_same_timeline(
    executor: ThreadPoolExecutor,
) -> None:
    fan = Fanout("video", max_bytes=1 << 20, gated=True, on_keyframe_needed=lambda: None)
    sub = fan.subscribe()
    clock = Clock()
    lane = VideoLane(
        executor=executor,
        fanout=fan,
        policy=KeyframePolicy(interval_ms=10_000),
        bitrate_bps=500_000,
        clock=clock,
        counters=LaneCounters(),
    )
    try:
        packets = []
        for n in range(3):
            clock.now += 0.1
            lane.put(make_frame(n, 60, 900_000 + n * 9000))
            packets += await drain(sub, 1)
        lane.new_source()
        clock.now += 0.1
        lane.put(make_frame(0, 190, 0))  # the new source's clock starts at zero
        packets += await drain(sub, 1)
        assert [p.is_keyframe for p in packets] == [True, False, False, True]
        assert [pts(p) for p in packets] == sorted(pts(p) for p in packets)
        assert pts(packets[3]) - pts(packets[2]) == 9000  # 0.1 s later, in 1/90000
    finally:
        await lane.stop()


async def test_audio_is_encoded_once_into_rising_packets(executor: ThreadPoolExecutor) -> None:
    counters = LaneCounters()
    fan = Fanout("audio", max_bytes=1 << 20, gated=False, on_keyframe_needed=lambda: None)
    sub = fan.subscribe()
    lane = AudioLane(
        executor=executor,
        fanout=fan,
        bitrate_bps=64_000,
        frame_ms=20,
        backlog_frames=25,
        clock=Clock(),
        counters=counters,
    )
    try:
        for n in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 48_000, n * 960, fractions.Fraction(1, 48_000)
            lane.put(frame)
            await asyncio.sleep(0.01)
        packets = await drain(sub, 8)
        assert {pts(b) - pts(a) for a, b in itertools.pairwise(packets)} == {960}
        assert counters.audio_packets_encoded >= 8
    finally:
        await lane.stop()


async def test_nobody_watching_means_no_encoding(executor: ThreadPoolExecutor) -> None:
    counters = LaneCounters()
    fan = Fanout("video", max_bytes=1 << 20, gated=True, on_keyframe_needed=lambda: None)
    clock = Clock()
    policy = KeyframePolicy(interval_ms=10_000)
    lane = VideoLane(
        executor=executor, fanout=fan, policy=policy, bitrate_bps=500_000, clock=clock, counters=counters
    )
    try:
        for n in range(5):
            lane.put(make_frame(n, 60, n * 6000))
            await asyncio.sleep(0.01)
        assert counters.video_frames_encoded == 0
        sub = fan.subscribe()
        lane.put(make_frame(5, 60, 30000))
        (first,) = await drain(sub, 1)
        assert first.is_keyframe and counters.video_frames_encoded == 1
    finally:
        await lane.stop()
