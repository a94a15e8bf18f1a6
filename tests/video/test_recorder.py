"""live/video/recorder.py and live/recordings.py with a real aiortc publisher in this process:
the packets the relay encodes become a WebM file that decodes, and the disk bound stops it."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import orjson
import pytest

from live.recordings import Recordings, recordings_dir
from live.video import VideoService
from live.video.recorder import Recording, Stopped, vp8_size
from tests.live.store_kit import close_store, new_room, open_store

from .clients import Publisher, wait_for
from .media import HEIGHT, WIDTH, read_counter

pytestmark = pytest.mark.timeout(90)


def test_the_picture_size_is_read_from_a_vp8_keyframe_only() -> None:
    keyframe = bytes([0x50, 0x42, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00]) + b"\0" * 10
    assert vp8_size(keyframe) == (320, 240)
    assert vp8_size(bytes([0x51]) + keyframe[1:]) is None  # an interframe (bit 0 set)
    assert vp8_size(b"\x50\x42\x00junkjunk") is None
    assert vp8_size(b"") is None


async def test_a_recording_is_a_webm_of_the_relayed_packets_that_decodes(
    service: VideoService, tmp_path: Path
) -> None:
    pub = Publisher(fps=15)
    await pub.publish(service, "rec")
    relay = service.publishing()["rec"]
    sizes: list[int] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        before = time.time()
        recording = Recording(
            video=relay.video,
            audio=relay.audio,
            path=tmp_path / "a.webm",
            executor=pool,
            on_bytes=lambda n: sizes.append(n) or True,
        )
        running = asyncio.create_task(recording.run())
        assert await wait_for(lambda: sizes and sizes[-1] > 20_000, within=30)
        recording.stop(Stopped.ROOM_NOT_LIVE)
        why, written = await running
    assert why is Stopped.ROOM_NOT_LIVE and written is not None
    assert (
        recording.started_ms is not None and before * 1000 - 100 <= recording.started_ms <= time.time() * 1000
    )
    with av.open(str(tmp_path / "a.webm")) as f:
        video = f.streams.video[0]
        assert (video.codec_context.name, video.codec_context.width, video.codec_context.height) == (
            "vp8",
            WIDTH,
            HEIGHT,
        )
        assert f.streams.audio[0].codec_context.name == "opus"
        frames = list(f.decode(video=0))
    assert len(frames) == written.video_frames > 0
    assert frames[0].key_frame and frames[0].time is not None and frames[0].time < 0.1
    counters = [read_counter(fr.to_ndarray(format="gray")) for fr in frames]
    known = [c for c in counters if c is not None]
    assert known == sorted(known) and len(known) >= len(frames) * 0.9  # the publisher's pictures, in order
    assert abs(written.duration_ms - frames[-1].time * 1000) < 200  # type: ignore[operator]
    # Viewers were never disturbed: the recorder left the fanouts as it found them.
    assert len(relay.video) == 0 and len(relay.audio) == 0
    await pub.close()


async def test_the_disk_bound_stops_the_recording_with_one_log_line(
    service: VideoService, tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = await open_store(redis_url, data_dir=str(tmp_path), recording_max_bytes=30_000, node_id="n1")
    recordings = Recordings(store, store.settings, service)
    room = await new_room(store)
    pub = Publisher(fps=15)
    await pub.publish(service, room)
    key = store.keys(room).recordings

    async def entries() -> list[dict[str, object]]:
        return [orjson.loads(e) for e in await store.redis.lrange(key, 0, -1)]

    caplog.set_level(logging.WARNING, logger="live.recordings")
    runner = asyncio.create_task(recordings.run())
    try:
        deadline = time.monotonic() + 45
        while not [e for e in await entries() if e["state"] == "done"]:
            assert time.monotonic() < deadline, await entries()
            await asyncio.sleep(0.1)
        await recordings.step()  # the room is still live: the bound keeps a new session from starting
        await asyncio.sleep(0.6)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await recordings.close()
        await pub.close()
    [entry] = await entries()
    assert entry["stopped"] == "disk_bound" and 30_000 <= int(entry["bytes"]) < 30_000 + 200_000  # type: ignore[call-overload]
    path = recordings_dir(store.settings) / str(entry["file"])
    assert path.stat().st_size == entry["bytes"]
    with av.open(str(path)) as f:
        assert sum(1 for _ in f.decode(video=0)) == entry["video_frames"]
    lines = [r.getMessage() for r in caplog.records if "recording stopped" in r.getMessage()]
    assert len(lines) == 1 and "LIVE_RECORDING_MAX_BYTES" in lines[0] and room in lines[0]
    await close_store(store)


async def test_a_stalled_disk_leaves_packets_in_the_bounded_queues_and_the_viewers_unharmed(
    service: VideoService, tmp_path: Path
) -> None:
    pub = Publisher(fps=15)
    await pub.publish(service, "slow")
    relay = service.publishing()["slow"]
    gate = threading.Event()
    sizes: list[int] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        recording = Recording(
            video=relay.video,
            audio=relay.audio,
            path=tmp_path / "slow.webm",
            executor=pool,
            on_bytes=lambda n: sizes.append(n) or True,
        )
        running = asyncio.create_task(recording.run())
        assert await wait_for(lambda: sizes, within=30)
        pool.submit(gate.wait)  # the writer thread is stuck, as on a disk that stopped answering
        viewer = relay.video.subscribe()  # a viewer joins meanwhile
        got = 0
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                await asyncio.wait_for(viewer.get(), 5)
                got += 1
            taken, queued = recording.backlog
            assert taken <= 2 + 1  # at most one packet per pump beyond the batch in flight
            assert queued > 0  # the rest waits in the subscribers' queues, bounded in bytes
            assert got >= 20  # the viewer got its pictures all along
        finally:
            relay.video.unsubscribe(viewer)
            gate.set()
        recording.stop(Stopped.SHUTDOWN)
        _, written = await running
    assert written is not None and written.video_frames > 0
    await pub.close()
