"""Reading what an HLS writer left on disk: the playlist's entries and each segment decoded by PyAV."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import av


@dataclass
class Entry:
    uri: str
    duration_s: float
    program_ms: int  # EXT-X-PROGRAM-DATE-TIME


@dataclass
class Playlist:
    sequence: int
    target_s: int
    init: str
    entries: list[Entry]


def parse_playlist(text: str) -> Playlist:
    """The parts of a live fMP4 media playlist these tests look at."""
    assert text.startswith("#EXTM3U"), text
    sequence = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))  # type: ignore[union-attr]
    target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", text).group(1))  # type: ignore[union-attr]
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text).group(1)  # type: ignore[union-attr]
    entries = []
    duration, program = 0.0, 0
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].rstrip(","))
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            program = int(datetime.fromisoformat(line.split(":", 1)[1]).timestamp() * 1000)
        elif line and not line.startswith("#"):
            entries.append(Entry(line, duration, program))
    assert "#EXT-X-ENDLIST" not in text, "a live playlist has no end"
    return Playlist(sequence, target, init, entries)


def read_playlist(directory: Path) -> Playlist | None:
    try:
        return parse_playlist((directory / "index.m3u8").read_text())
    except FileNotFoundError:
        return None


@dataclass
class Decoded:
    video_times: list[float]  # seconds, presentation times of the pictures
    pictures: list[av.VideoFrame]
    audio_s: float  # seconds of decoded audio
    audio: list[av.AudioFrame]
    codecs: tuple[str, str]

    @property
    def duration_s(self) -> float:
        """From the first picture to the end of the last (one frame interval after it)."""
        times = self.video_times
        step = (times[-1] - times[0]) / (len(times) - 1)
        return times[-1] - times[0] + step


def decode_segment(init: bytes, segment: bytes) -> Decoded:
    """Decode one media segment as a player would: the init segment, then the segment."""
    container = av.open(io.BytesIO(init + segment), format="mp4")
    try:
        video_stream = container.streams.video[0]
        audio_stream = container.streams.audio[0]
        codecs = (video_stream.codec_context.name, audio_stream.codec_context.name)
        pictures, times, audio = [], [], []
        for packet in container.demux():
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    pictures.append(frame)
                    assert frame.time is not None
                    times.append(float(frame.time))
                elif isinstance(frame, av.AudioFrame):
                    audio.append(frame)
        audio_s = sum(f.samples for f in audio) / 48_000
        return Decoded(times, pictures, audio_s, audio, codecs)
    finally:
        container.close()
