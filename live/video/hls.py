"""A room's HLS lane: the decoded frames the relay reads, encoded once more for HLS viewers.

Like the VP8 and Opus lanes, one task per room hands the work to a worker thread and awaits
it, so the writer is never used by two threads at once and the event loop never runs a codec.
Video is "latest frame wins" at the lane's pace; audio keeps every frame within a short
backlog. Unlike the WebRTC lanes it encodes whether or not anyone watches: HLS viewers are
invisible to this process (they may be served by nginx or a CDN from the files alone).

The paths are the contract's (§13): ``/hls/{room}/index.m3u8`` (``hls_path``), the segments
beside it; ``live/hls_files.py`` serves them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import av

from live.video.hls_writer import HlsSettings, HlsWriter, clear_dir

logger = logging.getLogger(__name__)

AUDIO_BACKLOG_FRAMES = 50  # about 1 s of WebRTC audio (20 ms frames) while the encoder is busy


@dataclass(slots=True)
class HlsCounters:
    """Cumulative counts over every room of a service (for /metrics)."""

    hls_frames_encoded: int = 0
    hls_frames_skipped: int = 0  # latest frame won, or over the HLS frame rate
    hls_audio_dropped: int = 0  # backlog overflowed
    hls_encode_errors: int = 0
    hls_encode_s: float = 0.0  # worker-thread seconds spent encoding and muxing (wall, not CPU)


class HlsLane:
    """Writes one room's stream into ``directory`` from its first frame until ``stop``.

    ``clock``: monotonic seconds, read when a frame is handed over (a segment's time is when
    its frames reached the server, which is what a viewer's delay is measured from).
    """

    def __init__(
        self,
        *,
        directory: Path,
        settings: HlsSettings,
        executor: Executor,
        counters: HlsCounters,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self._settings = settings
        self._executor = executor
        self._counters = counters
        self._clock = clock
        self._writer = HlsWriter(directory, settings)
        self._video: tuple[float, av.VideoFrame] | None = None
        self._audio: deque[av.AudioFrame] = deque(maxlen=AUDIO_BACKLOG_FRAMES)
        self._ready = asyncio.Event()
        self._stopping = False
        self._failed = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="live-video-hls-lane")

    @property
    def started(self) -> bool:
        """Whether the first frame has been written (the playlist follows within a segment)."""
        return self._writer.started

    def put_video(self, frame: av.VideoFrame) -> None:
        """Offer a decoded picture; it replaces one not yet encoded (latest frame wins)."""
        if self._video is not None:
            self._counters.hls_frames_skipped += 1
        self._video = (self._clock(), frame)
        self._ready.set()

    def put_audio(self, frame: av.AudioFrame) -> None:
        """Queue decoded audio for encoding."""
        if len(self._audio) == self._audio.maxlen:
            self._counters.hls_audio_dropped += 1
        self._audio.append(frame)
        self._ready.set()

    async def stop(self) -> None:
        """Finish the encode in flight, end the stream and remove its files (the playlist first)."""
        self._stopping = True
        self._ready.set()
        await self._task
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)

    def _close(self) -> None:
        try:
            self._writer.close()
        except Exception:
            logger.exception("HLS writer close failed")
        clear_dir(self.directory)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        # A stream that ended without its process clearing up (killed) left its files: a new one
        # starts clean, or a player would be shown the old playlist until the first segment.
        await loop.run_in_executor(self._executor, clear_dir, self.directory)
        while True:
            await self._ready.wait()
            self._ready.clear()
            if self._stopping:
                return
            video = [self._video] if self._video is not None else []
            self._video = None
            audio = list(self._audio)
            self._audio.clear()
            if self._failed:
                continue
            now = self._clock()
            skipped = self._writer.frames_skipped
            started = time.perf_counter()
            try:
                await loop.run_in_executor(self._executor, self._writer.write, video, audio, now)
            except Exception:
                # A broken HLS stream must not end the room's WebRTC video: stop writing, say so.
                logger.exception("HLS encode failed in %s; HLS is off until the next publish", self.directory)
                self._counters.hls_encode_errors += 1
                self._failed = True
                await loop.run_in_executor(self._executor, clear_dir, self.directory)
                continue
            self._counters.hls_encode_s += time.perf_counter() - started
            self._counters.hls_frames_encoded += len(video) - (self._writer.frames_skipped - skipped)
            self._counters.hls_frames_skipped += self._writer.frames_skipped - skipped
