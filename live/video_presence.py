"""Which rooms have video, told to every process: a lease in the room's meta hash.

A room's video lives on the one process that took its ``/publish``; ``hello`` may be built on
any other. The publishing process writes ``VIDEO_LEASE_FIELD`` (now + ``LEASE_MS``) into the
room's meta and renews it every ``RENEW_S``; it deletes the field when the stream ends. A
process that dies stops renewing, so a stale "has video" lasts one lease at most.
``Snapshot.room`` turns a lease still running into ``hls`` (contract §13).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from redis.exceptions import RedisError

from live.keys import VIDEO_LEASE_FIELD, RoomKeys
from live.store import now_ms

log = logging.getLogger(__name__)

LEASE_MS = 15_000
RENEW_S = 5.0


class VideoRooms(Protocol):
    def hls_path(self, room: str) -> str | None: ...

    def publishing_rooms(self) -> list[str]: ...


class VideoPresence:
    """Renews this process's rooms' leases; ``poke`` after a publish for an at-once update."""

    def __init__(self, redis: Any, key_prefix: str, video: VideoRooms) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._video = video
        self._leased: set[str] = set()
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Something changed (a publish): renew now rather than at the next round."""
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: renew the leases of rooms with video here, drop those of rooms without."""
        while True:
            self._wake.clear()
            try:
                await self.renew()
            except RedisError as err:
                log.warning("video presence: %s", err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RENEW_S)

    async def renew(self) -> None:
        """One round: a lease for each room with HLS here, none for the rest."""
        rooms = {r for r in self._video.publishing_rooms() if self._video.hls_path(r)}
        until = now_ms() + LEASE_MS
        pipe = self._redis.pipeline(transaction=False)
        for room in rooms:
            pipe.hset(RoomKeys(self._prefix, room).meta, VIDEO_LEASE_FIELD, until)
        for room in self._leased - rooms:
            pipe.hdel(RoomKeys(self._prefix, room).meta, VIDEO_LEASE_FIELD)
        if rooms or self._leased:
            await pipe.execute()
        self._leased = rooms

    async def clear(self) -> None:
        """At shutdown: this process's rooms have no video any more."""
        if not self._leased:
            return
        pipe = self._redis.pipeline(transaction=False)
        for room in self._leased:
            pipe.hdel(RoomKeys(self._prefix, room).meta, VIDEO_LEASE_FIELD)
        await pipe.execute()
        self._leased = set()
