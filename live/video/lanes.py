"""The room's encode loops: decoded frames in, one encode per frame, packets out to every viewer.

One lane per kind of media, each a single task that hands the actual encoding
to a worker thread and awaits it, so a room's encoder is never used by two
threads at once and the event loop never runs a codec. Video is "latest frame
wins": if encoding falls behind, stale frames are skipped rather than queued.
Audio keeps every frame (a gap is audible) within a short backlog.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import av

from live.video.encoders import (
    AUDIO_SAMPLE_RATE,
    AUDIO_TIME_BASE,
    VIDEO_CLOCK_RATE,
    VIDEO_TIME_BASE,
    OpusEncoder,
    Vp8Encoder,
)
from live.video.fanout import Fanout
from live.video.keyframes import KeyframePolicy
from live.video.timeline import Timeline

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class LaneCounters:
    """Cumulative counts over every room of a service (for /metrics)."""

    video_frames_encoded: int = 0
    video_keyframes: int = 0
    video_frames_skipped: int = 0  # latest frame won: the encoder was still busy with an older one
    audio_packets_encoded: int = 0
    audio_frames_dropped: int = 0  # backlog overflowed
    keyframe_requests: int = 0  # viewer joins, PLI/FIR and lost-packet recoveries
    encode_errors: int = 0


class _Lane:
    """What both lanes share: a wake-up event, one task, a stop flag."""

    def __init__(
        self, *, executor: Executor, fanout: Fanout, clock: Callable[[], float], counters: LaneCounters
    ) -> None:
        self._executor = executor
        self._fanout = fanout
        self._clock = clock
        self._counters = counters
        self._ready = asyncio.Event()
        self._stopping = False
        self._new_source = True
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"live-video-{fanout.kind}-lane"
        )

    def new_source(self) -> None:
        """Frames from now on come from another publisher."""
        self._new_source = True

    async def stop(self) -> None:
        """Finish the encode in flight (so no worker thread is left busy) and stop."""
        self._stopping = True
        self._ready.set()
        await self._task

    async def _run(self) -> None:
        raise NotImplementedError


class VideoLane(_Lane):
    """Encodes the current source's video once per frame, with the room's keyframe policy."""

    def __init__(
        self,
        *,
        executor: Executor,
        fanout: Fanout,
        policy: KeyframePolicy,
        bitrate_bps: int,
        clock: Callable[[], float],
        counters: LaneCounters,
    ) -> None:
        self._policy = policy
        self._encoder = Vp8Encoder(bitrate_bps=bitrate_bps)
        self._bitrate_bps = bitrate_bps
        self._timeline = Timeline(VIDEO_CLOCK_RATE)
        self._pending: av.VideoFrame | None = None
        super().__init__(executor=executor, fanout=fanout, clock=clock, counters=counters)

    def put(self, frame: av.VideoFrame) -> None:
        """Offer a decoded frame; it replaces one not yet encoded (latest frame wins)."""
        if self._pending is not None:
            self._counters.video_frames_skipped += 1
        self._pending = frame
        self._ready.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._ready.wait()
            self._ready.clear()
            if self._stopping:
                return
            frame, self._pending = self._pending, None
            if frame is None or not self._fanout:
                # Nobody watches (yet): encoding would be wasted. The first viewer's join
                # asks for a keyframe, so the stream resumes decodable.
                continue
            if self._new_source:
                self._new_source = False
                self._timeline.new_source()
                # Viewers switch to the new picture at once, not at the next periodic keyframe.
                self._policy.reset()
            now = self._clock()
            source_ts = None
            if frame.pts is not None and frame.time_base is not None:
                base = frame.time_base
                source_ts = frame.pts * base.numerator * VIDEO_CLOCK_RATE // base.denominator
            frame.pts = self._timeline.place(source_ts, now)
            frame.time_base = VIDEO_TIME_BASE
            now_ms = int(now * 1000)
            keyframe = self._policy.should_force(now_ms)
            encode = functools.partial(self._encoder.encode, frame, keyframe=keyframe)
            try:
                packets = await loop.run_in_executor(self._executor, encode)
            except Exception:
                # One bad frame must not end the room's video: start a fresh encoder (keyframe first).
                logger.exception("video encode failed; restarting the encoder")
                self._counters.encode_errors += 1
                self._encoder = Vp8Encoder(bitrate_bps=self._bitrate_bps)
                self._policy.reset()
                continue
            if self._stopping:
                return
            self._counters.video_frames_encoded += 1
            for packet in packets:
                if packet.is_keyframe:
                    self._policy.keyframe_sent(now_ms)
                    self._counters.video_keyframes += 1
                self._fanout.publish(packet)


class AudioLane(_Lane):
    """Encodes the current source's audio once, into ``frame_ms`` Opus packets.

    ``backlog_frames``: decoded frames kept while the encoder is busy; past it the
    oldest are dropped (audio that late is better skipped than played late).
    """

    def __init__(
        self,
        *,
        executor: Executor,
        fanout: Fanout,
        bitrate_bps: int,
        frame_ms: int,
        backlog_frames: int,
        clock: Callable[[], float],
        counters: LaneCounters,
    ) -> None:
        self._bitrate_bps = bitrate_bps
        self._frame_ms = frame_ms
        self._encoder: OpusEncoder | None = None
        self._timeline = Timeline(AUDIO_SAMPLE_RATE)
        self._backlog: deque[av.AudioFrame] = deque(maxlen=backlog_frames)
        super().__init__(executor=executor, fanout=fanout, clock=clock, counters=counters)

    def put(self, frame: av.AudioFrame) -> None:
        """Queue a decoded frame for encoding."""
        if len(self._backlog) == self._backlog.maxlen:
            self._counters.audio_frames_dropped += 1
        self._backlog.append(frame)
        self._ready.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._ready.wait()
            self._ready.clear()
            if self._stopping:
                return
            frames = list(self._backlog)
            self._backlog.clear()
            if not frames:
                continue
            if not self._fanout:
                # Nobody listens: skip encoding. The encoder's own clock does not see the
                # gap, so start afresh (re-anchored on the timeline) when someone comes.
                self._new_source = True
                continue
            if self._new_source or self._encoder is None:
                self._new_source = False
                self._timeline.new_source()
                # A fresh encoder and resampler: the new source may send another format.
                self._encoder = OpusEncoder(bitrate_bps=self._bitrate_bps, frame_ms=self._frame_ms)
            try:
                packets = await loop.run_in_executor(self._executor, self._encoder.encode, frames)
            except Exception:
                logger.exception("audio encode failed; restarting the encoder")
                self._counters.encode_errors += 1
                self._encoder = None
                continue
            if self._stopping:
                return
            now = self._clock()
            for packet in packets:
                packet.pts = self._timeline.place(packet.pts, now)
                packet.time_base = AUDIO_TIME_BASE
                self._counters.audio_packets_encoded += 1
                self._fanout.publish(packet)
