"""VideoService end to end: real aiortc peers on 127.0.0.1, no mocks."""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time

import pytest
from aiortc import RTCPeerConnection

import live.video.service as service_module
from live.video import VideoService
from rooms.errors import BadRequest, Conflict, Unavailable

from .clients import Publisher, Viewer, make_offer, wait_for
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


def new_threads(before: frozenset[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and not t.name.startswith("asyncio_")]


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
        assert await wait_for(
            lambda: all(len(v.pictures) >= 30 and len(v.audio) >= 60 for v in viewers), 10.0
        )

        for viewer in viewers:
            counters = [p.counter for p in viewer.pictures]
            # Numbers only go up (live, in order), and each picture is close to its source.
            assert all(b > a for a, b in itertools.pairwise(counters)), counters
            # Near the source: typically 0.05 grey levels off on average; a picture damaged by a
            # lost packet (possible on a loaded machine) may stand out, but not more than two.
            assert sum(p.error >= 2.0 for p in viewer.pictures) <= 2, [p.error for p in viewer.pictures]
            assert viewer.unreadable <= 2
            # Glass to glass: publisher encode, server decode + encode, viewer decode, two jitter buffers.
            delays = sorted(p.at - publisher.video.shown_at(p.counter) for p in viewer.pictures)
            assert delays[len(delays) // 2] < 0.5, delays
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
    # aiortc's decoder threads (the service's and the clients') are joined when their connections
    # close. The loop's default executor ("asyncio_N") is the test publisher's: aiortc encodes its
    # frames there; the loop owns and joins it at the end of the test.
    assert await wait_for(lambda: not new_threads(our_threads), 5.0), new_threads(our_threads)


async def test_watch_with_nobody_publishing_is_a_conflict(service: VideoService) -> None:
    viewer = Viewer()
    try:
        with pytest.raises(Conflict, match="nobody is publishing in this room"):
            await viewer.watch(service, ROOM)
    finally:
        await viewer.close()
    assert service.stats()["peer_connections"] == 0


async def test_late_joiner_decodes_a_picture_within_two_seconds(service: VideoService) -> None:
    publisher = Publisher()
    early, late = Viewer(), Viewer()
    try:
        await publisher.publish(service, ROOM)
        await early.watch(service, ROOM)
        assert await wait_for(lambda: len(early.pictures) >= 10, 10.0)
        await asyncio.sleep(1.5)  # the stream is well under way, between periodic keyframes
        await late.watch(service, ROOM)
        assert await wait_for(lambda: late.pictures, 5.0)
        waited = late.first_picture_after(late.asked_at)
        assert waited is not None and waited < 2.0, waited
        assert late.pictures[0].error < 8.0
    finally:
        await late.close()
        await early.close()
        await publisher.close()


async def test_a_joining_viewer_gets_a_keyframe_without_waiting_for_the_interval() -> None:
    # With a 10 s interval only the keyframe requested on joining can serve the late viewer in time.
    service = VideoService(keyframe_interval_ms=10_000)
    publisher = Publisher()
    early, late = Viewer(), Viewer()
    try:
        await publisher.publish(service, ROOM)
        await early.watch(service, ROOM)
        assert await wait_for(lambda: len(early.pictures) >= 10, 10.0)
        await asyncio.sleep(1.0)
        await late.watch(service, ROOM)
        assert await wait_for(lambda: late.pictures, 5.0)
        waited = late.first_picture_after(late.asked_at)
        assert waited is not None and waited < 2.0, waited
    finally:
        await late.close()
        await early.close()
        await publisher.close()
        await service.close()


async def test_periodic_keyframes_follow_the_interval() -> None:
    service = VideoService(keyframe_interval_ms=500)
    publisher = Publisher()
    viewer = Viewer()
    try:
        await publisher.publish(service, ROOM)
        await viewer.watch(service, ROOM)
        assert await wait_for(lambda: viewer.pictures, 10.0)
        before = service.stats()["video_keyframes"]
        await asyncio.sleep(3.0)
        made = service.stats()["video_keyframes"] - before
        # 500 ms at 15 fps is a keyframe every 8th frame: about 6 in 3 s.
        # Requests (a viewer's PLI after a loss on a busy machine) may add some, never one per frame:
        # they are at least 250 ms apart.
        assert 4 <= made <= 12, made
    finally:
        await viewer.close()
        await publisher.close()
        await service.close()


async def test_a_viewers_pli_reaches_the_one_encoder() -> None:
    service = VideoService(keyframe_interval_ms=10_000)
    publisher = Publisher()
    viewer = Viewer()
    try:
        await publisher.publish(service, ROOM)
        await viewer.watch(service, ROOM)
        assert await wait_for(lambda: len(viewer.pictures) >= 5, 10.0)
        await asyncio.sleep(0.5)
        quiet, asked = service.stats()["video_keyframes"], service.stats()["keyframe_requests"]
        await asyncio.sleep(0.5)
        # No keyframe without a reason (a viewer's own PLI after a loss would be one).
        assert service.stats()["video_keyframes"] == quiet or service.stats()["keyframe_requests"] > asked
        quiet = service.stats()["video_keyframes"]
        # The viewer's aiortc receiver sends a real RTCP PLI, as it does when it cannot decode.
        receiver = next(r for r in viewer.pc.getReceivers() if r.track.kind == "video")
        ssrc = receiver.getSynchronizationSources()[0].source
        await receiver._send_rtcp_pli(ssrc)
        assert await wait_for(lambda: service.stats()["video_keyframes"] > quiet, 1.0)
    finally:
        await viewer.close()
        await publisher.close()
        await service.close()


async def test_a_new_publisher_replaces_the_old_one_and_viewers_stay(service: VideoService) -> None:
    first = Publisher(level=60, hz=440.0)
    second = Publisher(level=190, hz=880.0)
    viewers = [Viewer(levels=(60, 190)) for _ in range(2)]
    try:
        await first.publish(service, ROOM)
        for viewer in viewers:
            await viewer.watch(service, ROOM)
        assert await wait_for(lambda: all(len(v.pictures) >= 10 for v in viewers), 10.0)
        assert all(p.level == 60 for v in viewers for p in v.pictures)

        switched_at = time.monotonic()
        await second.publish(service, ROOM)
        # The old publisher is hung up on; the viewers keep their connections.
        assert await wait_for(lambda: first.pc.connectionState == "closed", 5.0)
        assert await wait_for(lambda: all(any(p.level == 190 for p in v.pictures) for v in viewers), 5.0)
        for viewer in viewers:
            took = next(p.at for p in viewer.pictures if p.level == 190) - switched_at
            assert took < 2.0, took
            assert viewer.pc.connectionState == "connected"
            assert not viewer.ended
        assert await wait_for(lambda: all(len(v.audio) >= 150 for v in viewers), 5.0)
        await asyncio.sleep(0.5)
        for viewer in viewers:
            assert sum(p.error >= 2.0 for p in viewer.pictures if p.level == 190) <= 2
            assert abs(dominant_hz(viewer.audio[-25:]) - 880.0) < 20.0
        stats = service.stats()
        assert (stats["publishers"], stats["viewers"], stats["peer_connections"]) == (1, 2, 3)
    finally:
        for viewer in viewers:
            await viewer.close()
        await first.close()
        await second.close()


async def test_the_publisher_leaving_ends_the_viewers_cleanly(service: VideoService) -> None:
    publisher = Publisher()
    viewer = Viewer()
    try:
        await publisher.publish(service, ROOM)
        await viewer.watch(service, ROOM)
        assert await wait_for(lambda: len(viewer.pictures) >= 5, 10.0)
        await publisher.close()
        assert await wait_for(lambda: not service.is_publishing(ROOM), 5.0)
        # The server closes the viewer's connection: its tracks end, its state is closed.
        assert await wait_for(lambda: viewer.ended == {"video", "audio"}, 5.0), viewer.ended
        assert await wait_for(lambda: viewer.pc.connectionState == "closed", 5.0)
        assert await wait_for(lambda: service.stats()["peer_connections"] == 0, 5.0), service.stats()
        assert (service.stats()["publishers"], service.stats()["viewers"]) == (0, 0)
        again = Viewer()
        try:
            with pytest.raises(Conflict):
                await again.watch(service, ROOM)
        finally:
            await again.close()
        assert service.stats()["peer_connections"] == 0
    finally:
        await viewer.close()
        await publisher.close()


async def test_bad_bodies_and_refused_offers_are_bad_requests_and_leave_nothing(
    service: VideoService,
) -> None:
    for bad in (None, {"sdp": "garbage", "type": "offer"}, {"sdp": "v=0", "type": "answer"}):
        with pytest.raises(BadRequest):
            await service.publish(ROOM, bad)
        with pytest.raises(BadRequest):
            await service.watch(ROOM, bad)
    publisher = Publisher()
    try:
        offer = await make_offer(publisher.pc)
        with pytest.raises(BadRequest, match="room id"):
            await service.publish("Not A Room!", offer)
        # Passes our checks, but aiortc has no codec in common with it: refused by aiortc itself,
        # after a peer connection was made for it, which must be closed again.
        av1_only = re.sub(r"a=rtpmap:(\d+) VP8/90000", r"a=rtpmap:\1 AV1/90000", offer["sdp"])
        av1_only = re.sub(r"a=rtpmap:(\d+) H264/90000\r\n", "", av1_only)
        av1_only = re.sub(r"a=rtpmap:(\d+) rtx/90000\r\n", "", av1_only)
        av1_only = re.sub(r"a=fmtp:[^\r\n]*\r\n", "", av1_only)
        with pytest.raises(BadRequest, match="offer refused"):
            await service.publish(ROOM, {"sdp": av1_only, "type": "offer"})
    finally:
        await publisher.close()
    assert not service.is_publishing(ROOM)
    assert service.stats()["peer_connections"] == 0


async def test_a_peer_that_never_connects_is_released(
    service: VideoService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "CONNECT_TIMEOUT_S", 0.5)
    publisher = Publisher()
    viewer = Viewer()
    try:
        await publisher.publish(service, ROOM)
        await viewer.watch(service, ROOM)
        assert await wait_for(lambda: viewer.pictures, 10.0)
        # An offer whose answer is never applied: the client walked away mid-handshake.
        ghost = RTCPeerConnection()
        ghost.addTransceiver("video", direction="recvonly")
        try:
            await service.watch(ROOM, await make_offer(ghost))
            assert service.stats()["viewers"] == 2
            assert await wait_for(lambda: service.stats()["viewers"] == 1, 3.0), service.stats()
            assert service.stats()["peer_connections"] == 2
        finally:
            await ghost.close()
        assert viewer.pc.connectionState == "connected"  # the connected ones were left alone
    finally:
        await viewer.close()
        await publisher.close()


async def test_close_releases_everything_while_streaming(our_threads: frozenset[threading.Thread]) -> None:
    service = VideoService()
    publisher = Publisher()
    viewers = [Viewer() for _ in range(2)]
    try:
        await publisher.publish(service, ROOM)
        for viewer in viewers:
            await viewer.watch(service, ROOM)
        assert await wait_for(lambda: all(v.pictures for v in viewers), 10.0)
        await service.close()
        assert service.stats()["peer_connections"] == 0
        assert not our_tasks()
        assert not live_video_threads()
        late = RTCPeerConnection()
        late.addTransceiver("video", direction="sendonly")
        try:
            with pytest.raises(Unavailable):
                await service.publish(ROOM, await make_offer(late))
        finally:
            await late.close()
        assert await wait_for(lambda: all(v.ended == {"video", "audio"} for v in viewers), 5.0)
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()
        await service.close()
    assert await wait_for(lambda: not new_threads(our_threads), 5.0), new_threads(our_threads)
