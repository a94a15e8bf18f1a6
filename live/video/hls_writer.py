"""A room's second encode: H.264 + AAC into fMP4 HLS segments and a rolling playlist on disk.

A plain synchronous object, used from one worker thread at a time (the room's HLS lane), like
the VP8 and Opus encoders. FFmpeg's ``hls`` muxer does the segmenting: it cuts a segment at the
first keyframe after ``segment_ms``, keeps ``window`` segments in the playlist, deletes the ones
that left it, stamps each with ``EXT-X-PROGRAM-DATE-TIME`` and writes the playlist through a
temporary file and a rename, so a reader (this server, nginx) never sees half a playlist.

Time: the writer's clock is the caller's (``now`` in seconds, monotonic), read when a frame
reached the server; the program date of a segment is the wall clock at the stream's first frame
plus that offset. Audio is made continuous: silence fills a gap (a host without a microphone,
a publisher being replaced) and audio running ahead of the clock is dropped, so the muxer,
which interleaves the two, never waits for the one that is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.resampler import AudioResampler
from av.container import OutputContainer
from av.video.frame import PictureType

from live.hls_paths import PLAYLIST

VIDEO_TIME_BASE = Fraction(1, 90_000)
AUDIO_RATE = 48_000
AUDIO_TIME_BASE = Fraction(1, AUDIO_RATE)
AUDIO_FRAME_SAMPLES = 1024  # one AAC frame
AUDIO_LAG_S = 0.25  # audio may trail the video clock this much before silence fills in
AUDIO_LEAD_S = 0.5  # audio further ahead of the video clock than this is dropped


@dataclass(frozen=True, slots=True)
class HlsSettings:
    """How a room's HLS stream is cut and encoded (``live/settings.py`` names the env vars)."""

    segment_ms: int = 1000  # target segment length: a keyframe is forced at each boundary
    window: int = 6  # segments listed in the playlist; older ones are deleted
    max_fps: int = 30  # frames coming faster are skipped; 0 = every frame the source sends
    video_bitrate_bps: int = 0  # 0 = by picture size (bitrate_for)
    audio_bitrate_bps: int = 96_000
    preset: str = "veryfast"  # libx264's speed/quality trade-off


def bitrate_for(width: int, height: int) -> int:
    """An H.264 rate for a picture size: 3 bits per pixel per second, 300 kbps - 3 Mbps.

    About 0.7 Mbps at 640x360 and 2.8 Mbps at 1280x720.
    """
    return max(300_000, min(3_000_000, width * height * 3))


def stream_id(wall_ms: int) -> str:
    """A name for one stream's files, unique per room over time: segment URLs are never reused.

    Segments are cached as immutable, so the files of a stream that starts after another one
    must not take the same names (``seg-1.m4s`` would be the old picture in every cache).
    """
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    n, out = wall_ms, ""
    while n:
        n, d = divmod(n, 36)
        out = digits[d] + out
    return out or "0"


def clear_dir(directory: Path) -> None:
    """Remove what a stream left in ``directory`` (its playlist first: it says the stream is on)."""
    with contextlib.suppress(FileNotFoundError):
        (directory / PLAYLIST).unlink()
    shutil.rmtree(directory, ignore_errors=True)


class HlsWriter:
    """One stream of one room, from its first frame to ``close``.

    ``directory`` holds the playlist (``index.m3u8``), the init segment and the media segments,
    all named relative to the playlist. ``wall_clock``: seconds since the epoch, read once at
    the first frame to anchor the program date.
    """

    def __init__(self, directory: Path, settings: HlsSettings, *, wall_clock: float | None = None) -> None:
        self.directory = directory
        self.settings = settings
        self._wall_clock = wall_clock
        self._out: OutputContainer | None = None
        self._video: av.VideoStream | None = None
        self._audio: av.AudioStream | None = None
        self._resampler: AudioResampler | None = None
        self._size: tuple[int, int] = (0, 0)
        self._start: float | None = None  # the caller's clock at the first frame
        self._last_pts = -1
        self._last_frame_at = -1.0
        self._next_keyframe_pts = 0
        self._audio_pts = 0  # samples written so far (the next frame's pts)
        self._audio_fifo = np.zeros((2, 0), np.float32)
        self.frames_written = 0
        self.frames_skipped = 0  # over max_fps
        self.audio_dropped_s = 0.0
        self.silence_s = 0.0
        self.id = ""

    @property
    def started(self) -> bool:
        return self._out is not None

    def write(self, video: list[tuple[float, av.VideoFrame]], audio: list[av.AudioFrame], now: float) -> None:
        """Encode and mux what arrived since the last call: video frames with the time each reached
        the server, and the audio frames, in order; ``now`` is the caller's clock.

        Nothing is written before the first video frame: its size sets the stream's (later
        frames of another size, say from a new publisher, are scaled to it).
        """
        for at, frame in video:
            self._write_video(at, frame)
        if self._out is None:
            return
        self._put_audio(audio, now)
        self._drain_audio()

    def close(self) -> None:
        """Flush the encoders and end the stream; its files stay until ``clear_dir``."""
        if self._out is None:
            return
        out, self._out = self._out, None
        try:
            assert self._video is not None and self._audio is not None
            for packet in self._video.encode(None):
                out.mux(packet)
            for packet in self._audio.encode(None):
                out.mux(packet)
        finally:
            out.close()

    # ---- video ------------------------------------------------------------------------------

    def _open(self, frame: av.VideoFrame, at: float) -> None:
        width, height = frame.width - frame.width % 2, frame.height - frame.height % 2
        self._size = (width, height)
        self._start = at
        wall = self._wall_clock if self._wall_clock is not None else time.time()
        self.id = stream_id(int(wall * 1000))
        self.directory.mkdir(parents=True, exist_ok=True)
        s = self.settings
        out = av.open(
            str(self.directory / PLAYLIST),
            "w",
            format="hls",
            options={
                "hls_time": f"{s.segment_ms / 1000:g}",
                "hls_list_size": str(s.window),
                "hls_segment_type": "fmp4",
                "hls_fmp4_init_filename": f"{self.id}-init.mp4",
                "hls_segment_filename": str(self.directory / f"{self.id}-%d.m4s"),
                # temp_file: a segment appears under its name only once complete. omit_endlist:
                # the stream is live until the playlist goes away.
                "hls_flags": "delete_segments+program_date_time+independent_segments+temp_file+omit_endlist",
                "hls_delete_threshold": "2",  # a player that read the last playlist can still fetch
            },
        )
        video = out.add_stream("libx264", rate=max(1, s.max_fps or 30))
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        video.time_base = VIDEO_TIME_BASE
        rate = s.video_bitrate_bps or bitrate_for(width, height)
        video.bit_rate = rate
        ctx = video.codec_context
        # The encoder counts in 1/90000 s too: in 1/fps, two pictures that arrived closer than a
        # frame interval (jitter) would share a timestamp, which the muxer refuses.
        ctx.time_base = VIDEO_TIME_BASE
        # zerolatency: no lookahead and no B-frames (a frame is out as soon as it is in); main
        # profile decodes everywhere; keyframes only where we force them (segment boundaries).
        ctx.options = {
            "preset": s.preset,
            "tune": "zerolatency",
            "profile": "main",
            "maxrate": str(rate),
            "bufsize": str(rate * 2),
            "sc_threshold": "0",
        }
        ctx.gop_size = 100_000
        ctx.thread_count = 2 if width * height > 640 * 480 else 1
        audio = out.add_stream("aac", rate=AUDIO_RATE)
        audio.layout = "stereo"
        audio.bit_rate = s.audio_bitrate_bps
        self._out, self._video, self._audio = out, video, audio

    def _write_video(self, at: float, frame: av.VideoFrame) -> None:
        s = self.settings
        if self._out is None:
            self._open(frame, at)
        assert self._out is not None and self._video is not None and self._start is not None
        if s.max_fps and self._last_frame_at >= 0 and at - self._last_frame_at < 0.9 / s.max_fps:
            self.frames_skipped += 1
            return
        pts = max(self._last_pts + 1, round((at - self._start) * 90_000))
        width, height = self._size
        if frame.width != width or frame.height != height or frame.format.name != "yuv420p":
            frame = frame.reformat(width=width, height=height, format="yuv420p")
        else:
            # Our own copy: the WebRTC lane encodes the same decoded frame in another thread and
            # sets its timestamp and picture type too.
            frame = av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        keyframe = pts >= self._next_keyframe_pts
        if keyframe:
            step = s.segment_ms * 90
            self._next_keyframe_pts = (pts // step + 1) * step
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        for packet in self._video.encode(frame):
            self._out.mux(packet)
        self._last_pts = pts
        self._last_frame_at = at
        self.frames_written += 1

    # ---- audio ------------------------------------------------------------------------------

    def _put_audio(self, frames: list[av.AudioFrame], now: float) -> None:
        assert self._start is not None
        if frames and self._resampler is None:
            self._resampler = AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        chunks = [self._audio_fifo]
        for frame in frames:
            assert self._resampler is not None
            try:
                resampled = self._resampler.resample(frame)
            except ValueError:
                # Another publisher, another sample format: a resampler for it.
                self._resampler = AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
                resampled = self._resampler.resample(frame)
            chunks.extend(r.to_ndarray().astype(np.float32) for r in resampled)
        fifo = np.concatenate(chunks, axis=1)
        clock = int((now - self._start) * AUDIO_RATE)  # where the audio should be by now
        ahead = self._audio_pts + fifo.shape[1] - (clock + int(AUDIO_LEAD_S * AUDIO_RATE))
        if ahead > 0:
            # More audio than time has passed: the oldest is late already, drop it.
            drop = min(ahead, fifo.shape[1])
            fifo = fifo[:, drop:]
            self._audio_pts += drop
            self.audio_dropped_s += drop / AUDIO_RATE
        missing = clock - int(AUDIO_LAG_S * AUDIO_RATE) - (self._audio_pts + fifo.shape[1])
        if missing > 0:
            fifo = np.concatenate([fifo, np.zeros((2, missing), np.float32)], axis=1)
            self.silence_s += missing / AUDIO_RATE
        self._audio_fifo = fifo

    def _drain_audio(self) -> None:
        assert self._out is not None and self._audio is not None
        fifo = self._audio_fifo
        whole = fifo.shape[1] - fifo.shape[1] % AUDIO_FRAME_SAMPLES
        for offset in range(0, whole, AUDIO_FRAME_SAMPLES):
            chunk = np.ascontiguousarray(fifo[:, offset : offset + AUDIO_FRAME_SAMPLES])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self._audio_pts
            frame.time_base = AUDIO_TIME_BASE
            self._audio_pts += AUDIO_FRAME_SAMPLES
            for packet in self._audio.encode(frame):
                self._out.mux(packet)
        self._audio_fifo = fifo[:, whole:]


def playlist_fresh(directory: Path, segment_ms: int, now: float | None = None) -> bool:
    """Whether ``directory``'s playlist exists and was rewritten lately (its writer is alive).

    The writer rewrites it with every segment; one not touched for three segments' time
    belongs to a process that died without clearing it.
    """
    try:
        mtime = os.stat(directory / PLAYLIST).st_mtime
    except FileNotFoundError:
        return False
    wall = time.time() if now is None else now
    return wall - mtime < max(3.0, 3 * segment_ms / 1000)
