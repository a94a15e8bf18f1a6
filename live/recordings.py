"""Which rooms this process records, their sessions in Redis, and the disk bound per room.

The process that holds a room's publisher records it (only it has the packets), while the room
is ``live``. A session lasts as long as one relay on this process: a host who reconnects here
before the stream ends goes on in the same file; one who comes back later, or to another
process, starts a new session, listed after the first (``RoomKeys.recordings``). A room's status
changes on whichever process is asked, so this one looks at the status of the rooms it
publishes twice a second (one pipelined read for all of them).

A session is listed in Redis when it starts (``duration_ms`` null) and completed when its file
is finished; a process killed mid-session leaves that entry incomplete, and the replay skips it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError

from live.settings import Settings, recordings_dir
from live.store import RoomStore
from live.video.recorder import Recording, Stopped, Written
from live.video.relay import RoomRelay

log = logging.getLogger("live.recordings")

POLL_S = 0.5  # how often the status of the rooms published here is read


@dataclass(eq=False, slots=True)
class _Session:
    room: str
    relay: RoomRelay
    index: int
    entry: dict[str, Any]
    recording: Recording
    task: asyncio.Task[None] | None = None


class Recordings:
    """Records every live room published on this process into ``data_dir/recordings/<room>/``.

    ``video``: the process's ``VideoService`` (its ``publishing()`` rooms and relays).
    """

    def __init__(
        self, store: RoomStore, settings: Settings, video: Any, *, wall: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._settings = settings
        self._video = video
        self._wall = wall
        # Files are written by one thread of their own: the disk never delays an encode.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-record")
        self._sessions: dict[str, _Session] = {}
        self._bounded: set[str] = set()  # rooms whose bound was reached (logged once)
        self._closed = False

    async def run(self) -> None:
        """Start and stop sessions as rooms go live, end, or lose their publisher. Until cancelled."""
        while True:
            try:
                await self.step()
            except RedisError as err:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from err
                log.warning("recordings: %s", err)
            await asyncio.sleep(POLL_S)

    async def step(self) -> None:
        """One look at the rooms published here."""
        publishing: dict[str, RoomRelay] = self._video.publishing()
        for room, running in list(self._sessions.items()):
            if publishing.get(room) is not running.relay:
                # Its relay closed (the stream ended): the recording ends on its own; make sure.
                running.recording.stop(Stopped.STREAM_ENDED)
        rooms = sorted(publishing)
        if not rooms:
            return
        async with self._store.redis.pipeline(transaction=False) as pipe:
            for room in rooms:
                pipe.hget(self._store.keys(room).meta, "status")
            statuses = await pipe.execute()
        for room, status in zip(rooms, statuses, strict=True):
            session = self._sessions.get(room)
            if status != "live":
                if session is not None:
                    session.recording.stop(Stopped.ROOM_NOT_LIVE)
                continue
            if session is None and not self._closed and self._settings.recording_max_bytes > 0:
                await self._start(room, publishing[room])

    async def close(self) -> None:
        """Finish every file (before the relays close) and stop the writer thread. Idempotent."""
        self._closed = True
        sessions = list(self._sessions.values())
        for session in sessions:
            session.recording.stop(Stopped.SHUTDOWN)
        await asyncio.gather(*(s.task for s in sessions if s.task is not None), return_exceptions=True)
        self._executor.shutdown(wait=True)

    # ---- one session ------------------------------------------------------------------------

    async def _used_bytes(self, room: str) -> int:
        entries = await self._store.redis.lrange(self._store.keys(room).recordings, 0, -1)
        return sum(int(orjson.loads(e).get("bytes") or 0) for e in entries)

    async def _start(self, room: str, relay: RoomRelay) -> None:
        limit = self._settings.recording_max_bytes
        used = await self._used_bytes(room)
        if used >= limit:
            self._bound_reached(room, used)
            return
        node = self._settings.node_id or "node"
        name = f"{int(self._wall() * 1000)}-{node}.webm"
        relative = f"{room}/{name}"
        path = recordings_dir(self._settings) / room / name
        entry: dict[str, Any] = {
            "file": relative,
            "node": node,
            "started_ms": None,
            "duration_ms": None,
            "bytes": 0,
            "state": "recording",
        }
        key = self._store.keys(room).recordings
        index = await self._store.redis.rpush(key, orjson.dumps(entry)) - 1

        def on_bytes(size: int) -> bool:
            return used + size < limit

        recording = Recording(
            video=relay.video,
            audio=relay.audio,
            path=path,
            executor=self._executor,
            on_bytes=on_bytes,
            wall=self._wall,
        )
        session = _Session(room, relay, index, entry, recording)
        self._sessions[room] = session
        session.task = asyncio.get_running_loop().create_task(
            self._record(session, used), name=f"live-record-{room}"
        )
        log.info("room %s: recording session %d into %s", room, index, path)

    async def _record(self, session: _Session, used: int) -> None:
        room = session.room
        why: Stopped | None = None
        written: Written | None = None
        try:
            why, written = await session.recording.run()
        except Exception:
            log.exception("room %s: recording failed", room)
        finally:
            if self._sessions.get(room) is session:
                del self._sessions[room]
        entry = session.entry
        if why is None:
            entry.update(state="failed")  # its file, if any, is left as it is: the replay skips it
        elif written is None:
            entry.update(state="empty", stopped=why.value)
        else:
            entry.update(
                state="done",
                stopped=why.value,
                started_ms=session.recording.started_ms,
                duration_ms=written.duration_ms,
                bytes=written.bytes,
                video_frames=written.video_frames,
                audio_packets=written.audio_packets,
            )
        try:
            await self._store.redis.lset(
                self._store.keys(room).recordings, session.index, orjson.dumps(entry)
            )
        except RedisError as err:
            log.warning("room %s: recording session %d not listed as done: %s", room, session.index, err)
        if why is Stopped.DISK_BOUND:
            self._bound_reached(room, used + (written.bytes if written else 0))

    def _bound_reached(self, room: str, used: int) -> None:
        if room in self._bounded:
            return
        self._bounded.add(room)
        log.warning(
            "room %s: recording stopped: its recordings take %d bytes, "
            "the bound is %d (LIVE_RECORDING_MAX_BYTES)",
            room,
            used,
            self._settings.recording_max_bytes,
        )
