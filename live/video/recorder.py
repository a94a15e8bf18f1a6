"""One recording session: a room's encoded packets, as the viewers get them, into one WebM file.

The recorder is one more consumer of the room's fanouts (a ``Subscriber`` per kind, like a
viewer's track), so the relay never waits for the disk: if writing falls behind, the recorder's
own queue, bounded in bytes, loses packets (video resumes at the next keyframe), exactly as a
slow viewer would. Nothing is encoded again: the VP8 and Opus packets are copied into the file
with their timestamps moved to start at zero (a remux). The file is written by one worker thread
(``WebmWriter`` is synchronous), never on the event loop.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import av
from aiortc.mediastreams import MediaStreamError

from live.video.encoders import AUDIO_SAMPLE_RATE, AUDIO_TIME_BASE, VIDEO_CLOCK_RATE, VIDEO_TIME_BASE
from live.video.fanout import Fanout, Subscriber

logger = logging.getLogger(__name__)

# The recorder's queues: larger than a viewer's (the disk may stall for a moment), still bounded.
VIDEO_QUEUE_MAX_BYTES = 4 << 20
AUDIO_QUEUE_MAX_BYTES = 256 << 10
# With video, wait this long (of media time) for a first audio packet before the file's tracks
# are fixed: a WebM's tracks are declared in its header, before the first packet.
AUDIO_WAIT_S = 1.0
AUDIO_ONLY_S = 3.0  # of audio without one video packet: a microphone-only publisher


class Stopped(enum.Enum):
    """Why a recording session ended."""

    STREAM_ENDED = "stream_ended"  # the publisher left: the relay closed its fanouts
    ROOM_NOT_LIVE = "room_not_live"  # the show ended (or was never live)
    DISK_BOUND = "disk_bound"  # the room's recordings reached recording_max_bytes
    SHUTDOWN = "shutdown"  # the server is stopping


def vp8_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe (RFC 6386 §9.1), or None for an interframe or junk."""
    if len(data) < 10 or data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
        return None
    return int.from_bytes(data[6:8], "little") & 0x3FFF, int.from_bytes(data[8:10], "little") & 0x3FFF


@dataclass(frozen=True, slots=True)
class Written:
    """What a finished file holds."""

    duration_ms: int
    video_frames: int
    audio_packets: int
    bytes: int


class WebmWriter:
    """A WebM file of VP8 and/or Opus packets, timestamps from zero. Synchronous: one thread uses it.

    The tracks are fixed by ``start`` (a VP8 track needs the picture size of the first keyframe).
    Packets come with room-timeline timestamps (1/90000 s video, 1/48000 s audio) and are placed
    relative to ``origin_s`` (room clock, seconds): anything earlier is dropped.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: av.container.OutputContainer | None = None
        self._video: av.VideoStream | None = None
        self._audio: av.AudioStream | None = None
        self._origin_s = 0.0
        self._end_s = 0.0
        self.video_frames = 0
        self.audio_packets = 0
        self._payload = 0  # bytes of the packets muxed: the file, less what the muxer still holds

    def start(self, *, origin_s: float, video_size: tuple[int, int] | None, audio: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Clusters of at most 2 s: what a killed process leaves unreadable at the file's end.
        out = av.open(str(self.path), "w", format="webm", options={"cluster_time_limit": "2000"})
        if video_size is not None:
            # A codec context is what PyAV writes the track header from; it never encodes here.
            video = out.add_stream("libvpx", rate=30)
            video.width, video.height = video_size
            video.pix_fmt = "yuv420p"
            video.codec_context.options = {"deadline": "realtime", "lag-in-frames": "0"}
            video.codec_context.thread_count = 1
            self._video = video
        if audio:
            # Opened at the header, libopus gives the OpusHead a WebM Opus track must carry.
            sound = out.add_stream("libopus", rate=AUDIO_SAMPLE_RATE)
            sound.format = "s16"
            sound.layout = "stereo"
            self._audio = sound
        self._out = out
        self._origin_s = origin_s

    def write(self, kind: str, packet: av.Packet) -> None:
        """Copy one packet into the file (the original is shared with viewers: left untouched)."""
        assert self._out is not None
        video = kind == "video"
        stream = self._video if video else self._audio
        if stream is None or packet.pts is None:
            return
        rate = VIDEO_CLOCK_RATE if video else AUDIO_SAMPLE_RATE
        pts = packet.pts - round(self._origin_s * rate)
        if pts < 0:
            return
        copy = av.Packet(bytes(packet))
        copy.pts = copy.dts = pts
        copy.time_base = VIDEO_TIME_BASE if video else AUDIO_TIME_BASE
        copy.is_keyframe = packet.is_keyframe
        copy.stream = stream
        self._out.mux(copy)
        self._payload += packet.size
        if video:
            self.video_frames += 1
        else:
            self.audio_packets += 1
            pts += packet.duration or 0  # an Opus packet lasts its duration; a video frame, until the next
        self._end_s = max(self._end_s, pts / rate)

    def size(self) -> int:
        """Bytes on disk so far, counting the packets the muxer holds in its current cluster."""
        try:
            return max(os.path.getsize(self.path), self._payload)
        except OSError:
            return self._payload

    def close(self) -> Written:
        """Finish the file (its index of keyframes, its duration). Idempotent."""
        if self._out is not None:
            self._out.close()
            self._out = None
        try:
            size = os.path.getsize(self.path)
        except OSError:
            size = 0
        return Written(round(self._end_s * 1000), self.video_frames, self.audio_packets, size)


class Recording:
    """Record ``video`` and ``audio`` (a room relay's fanouts) into ``path`` until stopped.

    ``executor``: where the file is written, one batch at a time. ``clock``: the relay's clock
    (monotonic seconds, what packet timestamps count in); ``wall``: epoch seconds, to say when
    the file's zero was. ``on_bytes(n)`` is told the file's size after each batch and returns
    False to stop at the disk bound.
    """

    def __init__(
        self,
        *,
        video: Fanout,
        audio: Fanout,
        path: Path,
        executor: Executor,
        on_bytes: Callable[[int], bool],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._writer = WebmWriter(path)
        self._executor = executor
        self._on_bytes = on_bytes
        self._clock = clock
        self._wall = wall
        self._subs: dict[str, tuple[Fanout, Subscriber]] = {
            "video": (video, video.subscribe(max_bytes=VIDEO_QUEUE_MAX_BYTES)),
            "audio": (audio, audio.subscribe(max_bytes=AUDIO_QUEUE_MAX_BYTES)),
        }
        self._pending: list[tuple[str, av.Packet]] = []
        self._wake = asyncio.Event()
        # Clear while a batch is written: the pumps then leave packets in the subscribers'
        # queues, which are bounded in bytes (a stalled disk loses packets, never grows memory).
        self._can_take = asyncio.Event()
        self._can_take.set()
        self._plan: tuple[float, tuple[int, int] | None, bool] | None = None
        self._ended: set[str] = set()
        self._stop: Stopped | None = None
        self.started_ms: int | None = None  # wall-clock ms of the file's zero, once it is known
        self.path = path

    @property
    def backlog(self) -> tuple[int, int]:
        """Packets taken but not yet written, and bytes waiting in the recorder's bounded queues."""
        return len(self._pending), sum(sub.queued_bytes for _, sub in self._subs.values())

    def stop(self, why: Stopped) -> None:
        """End the session after the batch in flight; ``run`` then returns."""
        if self._stop is None:
            self._stop = why
        self._wake.set()

    async def run(self) -> tuple[Stopped, Written | None]:
        """Record until stopped or the stream ends; the file is finished when this returns.

        Returns why it stopped and what the file holds (None when no packet ever came, and so no file).
        """
        pumps = [
            asyncio.get_running_loop().create_task(self._pump(kind, sub), name=f"live-record-{kind}")
            for kind, (_, sub) in self._subs.items()
        ]
        loop = asyncio.get_running_loop()
        head: list[tuple[str, av.Packet]] = []  # before the file starts: waiting for its tracks
        started = False
        try:
            while self._stop is None:
                await self._wake.wait()
                self._wake.clear()
                batch, self._pending = self._pending, []
                if not started:
                    head.extend(batch)
                    first = self._begin(head)
                    if first is None:
                        if len(self._ended) == len(self._subs):
                            self.stop(Stopped.STREAM_ENDED)
                        continue
                    await loop.run_in_executor(self._executor, self._start_file)
                    started = True
                    batch, head = first, []
                if batch:
                    self._can_take.clear()
                    try:
                        size = await loop.run_in_executor(self._executor, self._write, batch)
                    finally:
                        self._can_take.set()
                    if not self._on_bytes(size):
                        self.stop(Stopped.DISK_BOUND)
                if len(self._ended) == len(self._subs) and not self._pending:
                    self.stop(Stopped.STREAM_ENDED)
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for fanout, sub in self._subs.values():
                fanout.unsubscribe(sub)
        assert self._stop is not None
        if not started:
            return self._stop, None
        written = await loop.run_in_executor(self._executor, self._writer.close)
        return self._stop, written

    async def _pump(self, kind: str, sub: Subscriber) -> None:
        try:
            while True:
                await self._can_take.wait()
                packet = await sub.get()
                # Not append((kind, await ...)): that would hold the list from before the await.
                self._pending.append((kind, packet))
                self._wake.set()
        except MediaStreamError:
            self._ended.add(kind)
            self._wake.set()

    # ---- choosing the file's tracks and its zero -------------------------------------------

    def _begin(self, head: list[tuple[str, av.Packet]]) -> list[tuple[str, av.Packet]] | None:
        """The packets to write once ``head`` says what the file's tracks are, else None (wait).

        The gated video queue starts at a keyframe: the file's zero. With video, audio that has
        not come within AUDIO_WAIT_S of media time is taken to be absent; without any video
        after AUDIO_ONLY_S of audio, the publisher is taken to be a microphone only.
        """
        video = [p for kind, p in head if kind == "video" and p.pts is not None]
        audio = [p for kind, p in head if kind == "audio" and p.pts is not None]
        audio_over = "audio" in self._ended
        if video and vp8_size(bytes(video[0])) is None:
            head.remove(next(item for item in head if item[1] is video[0]))  # not a keyframe we can read
            return None
        if video:
            size = vp8_size(bytes(video[0]))
            origin = video[0].pts / VIDEO_CLOCK_RATE  # type: ignore[operator]
            waited = video[-1].pts / VIDEO_CLOCK_RATE - origin  # type: ignore[operator]
            if size is None or (not audio and not audio_over and waited < AUDIO_WAIT_S):
                return None
            self._plan = (origin, size, bool(audio))
        elif audio and (audio[-1].pts - audio[0].pts) / AUDIO_SAMPLE_RATE >= AUDIO_ONLY_S:  # type: ignore[operator]
            self._plan = (audio[0].pts / AUDIO_SAMPLE_RATE, None, True)  # type: ignore[operator]
        else:
            return None
        # The room clock and the wall clock read together: the file's zero on the wall clock.
        self.started_ms = round((self._wall() - (self._clock() - self._plan[0])) * 1000)
        return head

    def _start_file(self) -> None:
        assert self._plan is not None
        origin, size, audio = self._plan
        self._writer.start(origin_s=origin, video_size=size, audio=audio)

    def _write(self, batch: list[tuple[str, av.Packet]]) -> int:
        for kind, packet in batch:
            self._writer.write(kind, packet)
        return self._writer.size()
