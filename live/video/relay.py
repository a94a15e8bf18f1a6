"""One room's media path, from whoever publishes to everyone who watches.

The publisher's tracks are decoded once (aiortc's receiver does that, in its
own thread); one reader task per track hands the frames to the room's lanes,
which encode each frame once; the fanouts give the same packets to every
viewer's track. The lanes and fanouts outlive a publisher: a new publish only
swaps the readers, so viewers keep their connections and get the new picture
at the next frame (a keyframe).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from live.video.fanout import Fanout
from live.video.keyframes import KeyframePolicy
from live.video.lanes import AudioLane, LaneCounters, VideoLane


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """How a room encodes and how much a slow viewer may fall behind."""

    keyframe_interval_ms: int = 1000  # longest stretch without a keyframe; 0 = only on joins and requests
    keyframe_min_gap_ms: int = 250  # requested keyframes at least this far apart; 0 = no limit
    video_bitrate_bps: int = 0  # one encoding for all viewers, one rate; 0 = by picture size (bitrate_for)
    audio_bitrate_bps: int = 64_000
    audio_frame_ms: int = 20  # Opus packet duration: 20, 40 or 60; longer = fewer packets per viewer
    viewer_video_max_bytes: int = 512 * 1024  # a viewer's queue; past it the viewer skips to a keyframe
    viewer_audio_max_bytes: int = 16 * 1024  # about 1 s of Opus; past it the viewer's backlog is dropped
    audio_backlog_frames: int = 25  # decoded audio kept while the encoder is busy (20 ms each)


class FrameSink(Protocol):
    """Something else that takes the room's decoded frames (the HLS lane), on the event loop."""

    def put_video(self, frame: av.VideoFrame) -> None: ...

    def put_audio(self, frame: av.AudioFrame) -> None: ...

    async def stop(self) -> None: ...


class _Source:
    """One publisher's tracks being read; ``on_ended`` once all of them have ended."""

    def __init__(self, tracks: Sequence[MediaStreamTrack], on_ended: Callable[[], None]) -> None:
        self.live = len(tracks)
        self.on_ended = on_ended
        self.readers: list[asyncio.Task[None]] = []


class RoomRelay:
    """Decode once, encode once, fan out to every viewer. Made and used on the event loop.

    ``executor``: where encoding runs (shared by the rooms of a service).
    ``clock``: monotonic seconds, for timestamps and keyframe timing.
    ``sinks``: more takers of every decoded frame (they must not block); stopped on close.
    """

    def __init__(
        self,
        *,
        settings: RelaySettings,
        executor: Executor,
        counters: LaneCounters,
        clock: Callable[[], float] = time.monotonic,
        sinks: Sequence[FrameSink] = (),
    ) -> None:
        self._counters = counters
        self._sinks = tuple(sinks)
        self._policy = KeyframePolicy(settings.keyframe_interval_ms, settings.keyframe_min_gap_ms)
        self.video = Fanout(
            "video",
            max_bytes=settings.viewer_video_max_bytes,
            gated=True,
            on_keyframe_needed=self.request_keyframe,
        )
        # Every Opus packet decodes on its own: audio viewers need no keyframe.
        self.audio = Fanout(
            "audio", max_bytes=settings.viewer_audio_max_bytes, gated=False, on_keyframe_needed=_nothing
        )
        self._video_lane = VideoLane(
            executor=executor,
            fanout=self.video,
            policy=self._policy,
            bitrate_bps=settings.video_bitrate_bps,
            clock=clock,
            counters=counters,
        )
        self._audio_lane = AudioLane(
            executor=executor,
            fanout=self.audio,
            bitrate_bps=settings.audio_bitrate_bps,
            frame_ms=settings.audio_frame_ms,
            backlog_frames=settings.audio_backlog_frames,
            clock=clock,
            counters=counters,
        )
        self._source: _Source | None = None
        self._closed = False

    def fanout(self, kind: str) -> Fanout:
        """The viewers' side of ``kind`` ("video" or "audio")."""
        return self.video if kind == "video" else self.audio

    def request_keyframe(self) -> None:
        """A viewer joined, lost packets or sent PLI/FIR: a keyframe soon (``keyframe_min_gap_ms``)."""
        self._counters.keyframe_requests += 1
        self._policy.request()

    def set_source(self, tracks: Sequence[MediaStreamTrack], on_ended: Callable[[], None]) -> None:
        """Read from ``tracks`` (a publisher's remote tracks) instead of the current source.

        ``on_ended`` is called once every one of them has ended, unless another
        source has replaced them by then.
        """
        if self._closed:
            raise RuntimeError("relay is closed")
        self._stop_readers()
        source = _Source(tracks, on_ended)
        self._source = source
        self._video_lane.new_source()
        self._audio_lane.new_source()
        loop = asyncio.get_running_loop()
        for track in tracks:
            source.readers.append(
                loop.create_task(self._read(track, source), name=f"live-video-read-{track.kind}")
            )
        if not tracks:
            on_ended()

    async def _read(self, track: MediaStreamTrack, source: _Source) -> None:
        try:
            while True:
                frame = await track.recv()
                if source is not self._source:
                    return
                if isinstance(frame, av.VideoFrame):
                    self._video_lane.put(frame)
                    for sink in self._sinks:
                        sink.put_video(frame)
                elif isinstance(frame, av.AudioFrame):
                    self._audio_lane.put(frame)
                    for sink in self._sinks:
                        sink.put_audio(frame)
        except MediaStreamError:
            pass
        source.live -= 1
        if source.live == 0 and source is self._source:
            source.on_ended()

    def _stop_readers(self) -> list[asyncio.Task[None]]:
        if self._source is None:
            return []
        readers = self._source.readers
        self._source = None
        for task in readers:
            task.cancel()
        return readers

    async def close(self) -> None:
        """End the room's stream: viewers' tracks end, readers and lanes stop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.video.close()
        self.audio.close()
        readers = self._stop_readers()
        await asyncio.gather(*readers, return_exceptions=True)
        await self._video_lane.stop()
        await self._audio_lane.stop()
        for sink in self._sinks:
            await sink.stop()


def _nothing() -> None:
    return None
