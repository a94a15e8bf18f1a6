"""Real aiortc peers for the video tests: a publisher and a viewer that checks what it sees."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from live.video import VideoService

from .media import HEIGHT, PatternVideoTrack, ToneAudioTrack, luma, read_counter


async def make_offer(pc: RTCPeerConnection) -> dict[str, str]:
    await pc.setLocalDescription(await pc.createOffer())
    return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}


class Publisher:
    """A host: sends numbered pictures of grey ``level`` and a tone of ``hz``."""

    def __init__(self, level: int = 60, hz: float = 440.0, fps: int = 15, audio: bool = True) -> None:
        self.pc = RTCPeerConnection()
        self.video = PatternVideoTrack(level, fps)
        self.audio = ToneAudioTrack(hz) if audio else None
        self.pc.addTrack(self.video)
        if self.audio is not None:
            self.pc.addTrack(self.audio)

    async def publish(self, service: VideoService, room: str) -> None:
        answer = await service.publish(room, await make_offer(self.pc))
        await self.pc.setRemoteDescription(RTCSessionDescription(**answer))

    async def close(self) -> None:
        await self.pc.close()


@dataclass
class Seen:
    """One decoded picture: when, which number, which source level, and how far from the source."""

    at: float
    counter: int
    level: int
    error: float  # mean absolute luma difference to the source picture


@dataclass
class Viewer:
    """A viewer that decodes every picture it gets and checks it against the source.

    ``levels``: the grey levels of the sources that may be on air.
    """

    levels: tuple[int, ...] = (60,)
    pc: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    pictures: list[Seen] = field(default_factory=list)
    unreadable: int = 0
    audio: list[av.AudioFrame] = field(default_factory=list)
    ended: set[str] = field(default_factory=set)
    asked_at: float = 0.0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def watch(self, service: VideoService, room: str) -> None:
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on("track", self._on_track)
        self.asked_at = time.monotonic()
        answer = await service.watch(room, await make_offer(self.pc))
        await self.pc.setRemoteDescription(RTCSessionDescription(**answer))

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    self._look(frame)
                elif isinstance(frame, av.AudioFrame):
                    self.audio.append(frame)
        except MediaStreamError:
            self.ended.add(track.kind)

    def _look(self, frame: av.VideoFrame) -> None:
        y = frame.to_ndarray(format="yuv420p")[:HEIGHT]
        counter = read_counter(y)
        if counter is None:
            self.unreadable += 1
            return
        errors = {
            level: float(np.abs(y.astype(np.int16) - luma(counter, level)).mean()) for level in self.levels
        }
        level = min(errors, key=errors.__getitem__)
        self.pictures.append(Seen(time.monotonic(), counter, level, errors[level]))

    def first_picture_after(self, since: float) -> float | None:
        """Seconds from ``since`` to the first decoded picture, or None."""
        later = [p.at for p in self.pictures if p.at >= since]
        return later[0] - since if later else None

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def wait_for(predicate: Callable[[], object], within: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``within`` seconds have passed; return its last value."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return bool(predicate())
        await asyncio.sleep(step)
    return True
