"""The HLS writer alone: synthetic frames at uneven times in, a playlist and segments that decode out."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import av
import numpy as np

from live.video.hls_writer import HlsSettings, HlsWriter, clear_dir

from .hls_check import decode_segment, read_playlist


def frame(n: int, width: int = 320, height: int = 240) -> av.VideoFrame:
    planes = np.full((height * 3 // 2, width), 128, np.uint8)
    planes[:height] = (np.arange(width)[None, :] + n * 4) % 256
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def test_jittered_arrivals_a_new_size_and_no_audio_still_make_whole_segments(tmp_path: Path) -> None:
    rng = random.Random(7)
    writer = HlsWriter(tmp_path, HlsSettings(segment_ms=1000, window=5, max_fps=30))
    at = 0.0
    for n in range(8 * 30):
        # Pictures come in bursts and gaps, as from a jitter buffer on a busy machine.
        at += rng.choice((0.001, 0.031, 0.034, 0.05, 0.066))
        size = (320, 240) if n < 120 else (640, 480)  # another publisher, another camera
        writer.write([(at, frame(n, *size))], [], at)
    playlist = read_playlist(tmp_path)
    assert playlist is not None and len(playlist.entries) == 5
    init = (tmp_path / playlist.init).read_bytes()
    for entry in playlist.entries[:-1]:
        decoded = decode_segment(init, (tmp_path / entry.uri).read_bytes())
        assert all(b > a for a, b in itertools.pairwise(decoded.video_times))
        # The stream keeps the first picture's size; later ones are scaled to it.
        assert {(p.width, p.height) for p in decoded.pictures} == {(320, 240)}
        # No microphone: silence, as long as the picture.
        assert abs(decoded.audio_s - entry.duration_s) < 0.3
    assert writer.frames_skipped > 0  # the bursts were over 30 fps
    assert writer.silence_s > 5
    writer.close()
    clear_dir(tmp_path)
    assert not tmp_path.exists()


def test_audio_that_runs_ahead_of_the_clock_is_dropped(tmp_path: Path) -> None:
    writer = HlsWriter(tmp_path, HlsSettings())
    tone = (np.sin(np.arange(4800) / 10) * 8000).astype(np.int16).reshape(1, -1)
    for n in range(60):
        audio = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")  # 100 ms each ...
        audio.sample_rate = 48_000
        writer.write([(n / 30, frame(n))], [audio, audio], n / 30)  # ... 200 ms per 33 ms of video
    assert writer.audio_dropped_s > 8
    writer.close()
