"""VideoService end to end: real aiortc peers on 127.0.0.1, no mocks."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from live.video import VideoService
from rooms.errors import Conflict

from .clients import Publisher, Viewer, wait_for
from .media import dominant_hz

ROOM = "demo"


def our_tasks() -> list[asyncio.Task[object]]:
    """Tasks still running code from live/video (ours), other than the current one."""
    found = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task() or task.done():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and "/live/video/" in code.co_filename:
            found.append(task)
    return found


def live_video_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("live-video")]


async def test_five_viewers_see_the_source_encoded_once(our_threads: frozenset[threading.Thread]) -> None:
    service = VideoService()
    publisher = Publisher(level=60, hz=440.0, fps=15)
    viewers = [Viewer(levels=(60,)) for _ in range(5)]
    try:
        await publisher.publish(service, ROOM)
        assert service.is_publishing(ROOM)
        for viewer in viewers:
            await viewer.watch(service, ROOM)
        assert service.stats()["viewers"] == 5
        assert await wait_for(lambda: all(len(v.pictures) >= 30 and len(v.audio) >= 60 for v in viewers), 10.0)

        for viewer in viewers:
            counters = [p.counter for p in viewer.pictures]
            # Numbers only go up (live, in order), and each picture is close to its source.
            assert all(b > a for a, b in zip(counters, counters[1:], strict=False)), counters
            assert max(p.error for p in viewer.pictures) < 8.0
            assert viewer.unreadable <= 2
            assert abs(dominant_hz(viewer.audio[-50:]) - 440.0) < 10.0
        stats = service.stats()
        # One encode per source frame for the room, not one per viewer.
        assert stats["video_frames_encoded"] <= publisher.video.sent
        assert stats["video_frames_encoded"] >= 30
        assert stats["publishers"] == 1 and stats["peer_connections"] == 6

        for viewer in viewers:
            await viewer.close()
        assert await wait_for(lambda: service.stats()["viewers"] == 0, 5.0), service.stats()
        assert service.stats()["peer_connections"] == 1
        await publisher.close()
        assert await wait_for(lambda: service.stats()["publishers"] == 0, 5.0), service.stats()
        assert await wait_for(lambda: service.stats()["peer_connections"] == 0, 5.0), service.stats()
        assert await wait_for(lambda: not our_tasks(), 5.0), our_tasks()
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()
        await service.close()
    assert not our_tasks()
    assert not live_video_threads()
    # aiortc's decoder threads (ours and the clients') are joined when their connections close.
    assert await wait_for(lambda: set(threading.enumerate()) <= set(our_threads), 5.0), threading.enumerate()


async def test_watch_with_nobody_publishing_is_a_conflict(service: VideoService) -> None:
    viewer = Viewer()
    try:
        with pytest.raises(Conflict, match="nobody is publishing in this room"):
            await viewer.watch(service, ROOM)
    finally:
        await viewer.close()
    assert service.stats()["peer_connections"] == 0
