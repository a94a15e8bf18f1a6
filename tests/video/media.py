"""Synthetic media for the video tests: a picture that carries its own frame number, and a tone.

The picture is 320x240 luma blocks: a band with a 10-bit frame counter (white
block = 1), a band with its complement (so a half-decoded picture is not taken
for a number), and a band whose grey level names the source, with a bar that
moves. A viewer decodes the number, rebuilds the source picture for it and
measures how far the decoded picture is from it.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

WIDTH, HEIGHT = 320, 240
BITS = 10
BLOCK = WIDTH // BITS  # 32 px
BAND = HEIGHT // 3  # 80 px
LOW, HIGH = 16, 235
VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
AUDIO_RATE = 48_000
AUDIO_SAMPLES = 960


def luma(counter: int, level: int) -> np.ndarray:
    """The Y plane of source picture number ``counter`` from a source of grey ``level``."""
    y = np.empty((HEIGHT, WIDTH), np.uint8)
    for bit in range(BITS):
        on = (counter >> bit) & 1
        x = slice(bit * BLOCK, (bit + 1) * BLOCK)
        y[0:BAND, x] = HIGH if on else LOW
        y[BAND : 2 * BAND, x] = LOW if on else HIGH
    y[2 * BAND :, :] = level
    bar = (counter * 8) % (WIDTH - 16)
    y[2 * BAND :, bar : bar + 16] = HIGH
    return y


def make_frame(counter: int, level: int, pts: int) -> av.VideoFrame:
    planes = np.full((HEIGHT * 3 // 2, WIDTH), 128, np.uint8)
    planes[:HEIGHT] = luma(counter, level)
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    frame.pts = pts
    frame.time_base = VIDEO_TIME_BASE
    return frame


def read_counter(y: np.ndarray) -> int | None:
    """The frame number in a decoded Y plane, or None if the two bands disagree."""
    value = 0
    for bit in range(BITS):
        cx = slice(bit * BLOCK + 8, (bit + 1) * BLOCK - 8)
        top = y[16 : BAND - 16, cx].mean() > 128
        bottom = y[BAND + 16 : 2 * BAND - 16, cx].mean() > 128
        if top == bottom:
            return None
        value |= int(top) << bit
    return value


class PatternVideoTrack(MediaStreamTrack):
    """A camera stand-in: numbered pictures at ``fps``, from a source of grey ``level``."""

    kind = "video"

    def __init__(self, level: int, fps: int = 15) -> None:
        super().__init__()
        self.level = level
        self.fps = fps
        self.sent = 0
        self._start: float | None = None

    def shown_at(self, counter: int) -> float:
        """When picture ``counter`` was taken (monotonic seconds); no wrap in a short test."""
        assert self._start is not None
        return self._start + counter / self.fps

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + self.sent / self.fps - time.monotonic()))
        frame = make_frame(self.sent % (1 << BITS), self.level, self.sent * 90_000 // self.fps)
        self.sent += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A microphone stand-in: a sine tone of ``hz``, 20 ms mono frames at 48 kHz."""

    kind = "audio"

    def __init__(self, hz: float) -> None:
        super().__init__()
        self.hz = hz
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(
                max(0.0, self._start + self.sent * AUDIO_SAMPLES / AUDIO_RATE - time.monotonic())
            )
        t = (np.arange(AUDIO_SAMPLES) + self.sent * AUDIO_SAMPLES) / AUDIO_RATE
        samples = (np.sin(2 * np.pi * self.hz * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self.sent * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.sent += 1
        return frame


def pts(packet: av.Packet) -> int:
    """A packet's timestamp, which every packet of ours has."""
    assert packet.pts is not None
    return packet.pts


def dominant_hz(frames: list[av.AudioFrame]) -> float:
    """The strongest frequency in decoded audio frames (first channel)."""
    chunks = []
    for frame in frames:
        data = frame.to_ndarray()
        if frame.format.is_planar:
            chunks.append(data[0])
        else:
            chunks.append(data.reshape(-1, frame.layout.nb_channels)[:, 0])
    signal = np.concatenate(chunks).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    rate = frames[0].sample_rate
    return float(np.argmax(spectrum) * rate / len(signal))
