"""HLS beside WebRTC: a real aiortc publisher, the room's playlist on disk, its segments decoded by PyAV."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import numpy as np
import pytest

from live.video import VideoService
from live.video.hls_writer import HlsSettings
from rooms.errors import Conflict, WatchHls

from .clients import Publisher, Viewer, wait_for
from .hls_check import Playlist, decode_segment, read_playlist
from .media import HEIGHT, WIDTH, dominant_hz, luma, read_counter

ROOM = "hls-room"
FPS = 15


async def _rolled(directory: Path, past: int, within: float) -> Playlist:
    """The playlist once its media sequence has passed ``past`` (it rolls as segments are cut)."""
    found: list[Playlist] = []

    def check() -> bool:
        playlist = read_playlist(directory)
        if playlist is not None and playlist.sequence > past:
            found.append(playlist)
            return True
        return False

    assert await wait_for(check, within, step=0.1), f"the playlist did not pass sequence {past}"
    return found[-1]


async def test_a_published_room_gets_a_rolling_playlist_of_segments_that_decode(tmp_path: Path) -> None:
    settings = HlsSettings(segment_ms=1000, window=4)
    service = VideoService(hls=settings, hls_dir=tmp_path)
    publisher = Publisher(level=90, hz=440.0, fps=FPS)
    directory = tmp_path / ROOM
    try:
        await publisher.publish(service, ROOM)
        assert service.hls_path(ROOM) == f"/hls/{ROOM}/index.m3u8"
        # The playlist appears with the first segments, and rolls: it keeps 4, older ones go.
        first = await _rolled(directory, -1, 30.0)
        later = await _rolled(directory, first.sequence + 2, 30.0)
        assert len(later.entries) == 4
        assert later.target_s == 1
        gone = [e.uri for e in first.entries if e.uri not in {x.uri for x in later.entries}]
        assert gone, "nothing left the window"
        # Deleted a little after leaving the playlist (a player that read the last one may still fetch).
        assert await wait_for(lambda: not (directory / gone[0]).exists(), 20.0, step=0.1)

        init = (directory / later.init).read_bytes()
        # Whole segments, cut at our keyframes: about 1 s of 15 fps each, program dates 1 s apart.
        entries = later.entries[:-1]  # the newest may be the muxer's last word before a shorter cut
        for a, b in itertools.pairwise(entries):
            assert abs((b.program_ms - a.program_ms) - a.duration_s * 1000) < 5, (a, b)
        for entry in entries:
            assert 0.9 <= entry.duration_s <= 1.1, entry
            decoded = decode_segment(init, (directory / entry.uri).read_bytes())
            assert decoded.codecs == ("h264", "aac")
            # Pictures are timed as they reached the server: the source's pace, give or take jitter.
            assert 0.85 <= decoded.duration_s <= 1.15, decoded.video_times
            # 15 pictures a second from the source; a loaded machine may skip one or two (latest wins).
            assert 12 <= len(decoded.pictures) <= 16, len(decoded.pictures)
            gaps = np.diff(decoded.video_times)
            assert gaps.min() > 0
            assert 0.9 <= decoded.audio_s <= 1.15, decoded.audio_s
            # The pictures are the source's, in order, and close to it.
            counters = []
            for frame in decoded.pictures:
                assert (frame.width, frame.height) == (WIDTH, HEIGHT)
                y = frame.to_ndarray(format="yuv420p")[:HEIGHT]
                counter = read_counter(y)
                assert counter is not None
                counters.append(counter)
                assert float(np.abs(y.astype(np.int16) - luma(counter, 90)).mean()) < 3.0
            assert all(b > a for a, b in itertools.pairwise(counters)), counters
        # The tone, through AAC.
        tone = decode_segment(init, (directory / entries[-1].uri).read_bytes()).audio
        assert abs(dominant_hz(tone) - 440.0) < 10.0

        # The publisher leaves: the stream ends and its files go, the playlist first.
        await publisher.close()
        assert await wait_for(lambda: not (directory / "index.m3u8").exists(), 40.0, step=0.1)
        assert await wait_for(lambda: not directory.exists(), 10.0, step=0.1)
        assert service.hls_path(ROOM) is None
    finally:
        await publisher.close()
        await service.close()


async def test_past_the_webrtc_cap_watch_says_play_hls(tmp_path: Path) -> None:
    service = VideoService(hls=HlsSettings(), hls_dir=tmp_path, webrtc_viewers_max=1)
    publisher = Publisher(fps=FPS, audio=False)
    first, second, third = Viewer(levels=(60,)), Viewer(levels=(60,)), Viewer(levels=(60,))
    try:
        with pytest.raises(Conflict):
            await second.watch(service, ROOM)  # nobody publishes: the plain 409, no HLS
        await publisher.publish(service, ROOM)
        await first.watch(service, ROOM)
        with pytest.raises(WatchHls) as refused:
            await third.watch(service, ROOM)
        assert refused.value.code == "conflict" and refused.value.status == 409
        assert refused.value.fields == {"hls": f"/hls/{ROOM}/index.m3u8"}
        # The WebRTC viewer that got in plays; a video-only publisher still gets an HLS stream.
        assert await wait_for(lambda: len(first.pictures) >= 10, 20.0)
        playlist = await _rolled(tmp_path / ROOM, 0, 30.0)
        init = (tmp_path / ROOM / playlist.init).read_bytes()
        decoded = decode_segment(init, (tmp_path / ROOM / playlist.entries[0].uri).read_bytes())
        assert decoded.audio_s > 0.9  # silence, so that players need not handle a missing track
        assert service.stats()["hls_frames_encoded"] > 0
    finally:
        for viewer in (first, second, third):
            await viewer.close()
        await publisher.close()
        await service.close()


async def test_with_no_cap_and_no_hls_the_service_is_as_before(tmp_path: Path) -> None:
    service = VideoService()
    publisher = Publisher(fps=FPS, audio=False)
    viewer = Viewer()
    try:
        await publisher.publish(service, ROOM)
        assert service.hls_path(ROOM) is None
        await viewer.watch(service, ROOM)
        assert await wait_for(lambda: len(viewer.pictures) >= 5, 20.0)
        assert service.stats()["hls_rooms"] == 0
        assert not os.listdir(tmp_path)
    finally:
        await viewer.close()
        await publisher.close()
        await service.close()


def test_stream_ids_never_repeat_for_a_room() -> None:
    from live.video.hls_writer import stream_id

    now = int(time.time() * 1000)
    ids = {stream_id(now + i) for i in range(1000)}
    assert len(ids) == 1000 and all(i.isalnum() and i.islower() for i in ids)
