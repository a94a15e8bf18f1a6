"""One hub per active room per process: it follows the room's stream and fans out.

A reader task follows the room's Redis stream from the last id it saw (XREAD BLOCK), so
nothing between processes can be lost silently: there is no pub/sub to drop messages,
and every entry's ``seq`` is checked to rise by exactly one. The hub task batches what
arrived within one tick into one frame, encodes it once, and appends it to every local
viewer's outbox. Ephemeral state (viewers, likes, stock, progress) is polled and kept in
one latest-value slot each, merged into the next frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from redis.exceptions import RedisError

from live import closecodes
from live.connection import Connection
from live.metrics import Metrics
from live.settings import Settings
from live.store import RoomStore, now_ms
from rooms import events

log = logging.getLogger("live.hub")


def effective_tick_ms(tick_ms: int, connections: int, sends_per_s: int, last_flush_ms: float = 0.0) -> float:
    """The batching tick: ``tick_ms``, longer when one frame per tick to every viewer of this
    process would exceed ``sends_per_s`` (sends, not events, are what a process pays for), and
    never shorter than twice the last flush, so fan-out leaves at least half of the event loop
    to chat and buying whatever this machine's cost per send is."""
    if not tick_ms:
        return 0.0
    tick = max(float(tick_ms), 2 * last_flush_ms)
    if sends_per_s:
        tick = max(tick, 1000 * connections / sends_per_s)
    return tick


class RoomHub:
    def __init__(
        self, room: str, store: RoomStore, reader_redis: Any, settings: Settings, metrics: Metrics
    ) -> None:
        self.room = room
        self._store = store
        self._reader_redis = reader_redis
        self._settings = settings
        self._metrics = metrics
        self.members: set[Connection] = set()
        self.seq = 0  # the last durable seq queued to members
        self._joins: list[tuple[Connection, int]] = []
        self._entries: list[tuple[int, str, int]] = []  # (seq, event json, append ms) read, not yet sent
        self._wake = asyncio.Event()
        self._ephemeral: dict[str, str] = {}  # kind -> latest encoded event, not yet sent
        self._last_sent: dict[str, Any] = {}
        self._pending_likes = 0
        self._last_flush_ms = 0.0  # how long the last fan-out held the event loop
        self._idle_since: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.stopped = asyncio.Event()

    # Called by the gateway (never awaits Redis)

    def join(self, conn: Connection, after_seq: int) -> None:
        """Deliver every durable event after ``after_seq`` to ``conn``, then all new ones."""
        self._joins.append((conn, after_seq))
        self._idle_since = None
        self._wake.set()

    def leave(self, conn: Connection) -> None:
        self.members.discard(conn)
        self._joins = [(c, s) for c, s in self._joins if c is not conn]
        if not self.members and not self._joins:
            self._idle_since = time.monotonic()

    def add_likes(self, n: int) -> None:
        """Likes are summed locally and written once per poll, not once per tap."""
        self._pending_likes += n

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"hub:{self.room}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # The hub's own tasks

    async def _run(self) -> None:
        helpers: list[asyncio.Task[None]] = []
        try:
            self.seq = await self._current_seq()
            helpers = [
                asyncio.create_task(self._read_stream(self.seq), name=f"hub-reader:{self.room}"),
                asyncio.create_task(self._poll_ephemeral(), name=f"hub-poller:{self.room}"),
            ]
            last_flush = 0.0
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self._idle_expired():
                    # Marked before any await, so the registry never hands this hub a new viewer.
                    self.stopped.set()
                    return
                if self._joins:
                    await self._process_joins()
                tick_s = self._tick_s()
                if self._entries and tick_s:
                    delay = last_flush + tick_s - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if self._entries or self._ephemeral:
                    # Stamped before the flush: a tick is measured start to start, so a flush
                    # that takes long (thousands of viewers) does not add its length to the next wait.
                    last_flush = time.monotonic()
                    await self._flush()
                    self._last_flush_ms = (time.monotonic() - last_flush) * 1000
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("hub %s failed; its viewers reconnect and resume", self.room)
            for conn in list(self.members):
                conn.close_soon(closecodes.SERVER_ERROR, "room hub restarted")
        finally:
            for task in helpers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.stopped.set()

    def _tick_s(self) -> float:
        s = self._settings
        return (
            effective_tick_ms(s.tick_ms, self._metrics.connections, s.sends_per_s, self._last_flush_ms) / 1000
        )

    def _idle_expired(self) -> bool:
        if self.members or self._joins or self._idle_since is None:
            return False
        return (time.monotonic() - self._idle_since) * 1000 >= self._settings.hub_idle_ms

    async def _current_seq(self) -> int:
        value = await self._store.redis.hget(self._store.keys(self.room).meta, "seq")
        return int(value or 0)

    async def _read_stream(self, after_seq: int) -> None:
        key = self._store.keys(self.room).events
        last_id = f"{after_seq}-0"
        backoff = 0.05
        while True:
            try:
                reply = await self._reader_redis.xread({key: last_id}, count=1000, block=1000)
                backoff = 0.05
            except RedisError as err:
                # Redis went away: read again from the same id once it is back, so nothing is skipped.
                log.warning("hub %s stream read failed (%s); retrying", self.room, err)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if not reply:
                continue
            for _stream, entries in reply:
                for entry_id, fields in entries:
                    self._entries.append(
                        (int(entry_id.split("-", 1)[0]), fields["e"], int(fields.get("ms", 0)))
                    )
                    last_id = entry_id
            self._wake.set()

    async def _process_joins(self) -> None:
        joins, self._joins = self._joins, []
        for conn, after_seq in joins:
            if conn.closed:
                continue
            if after_seq < self.seq:
                backlog = await self._store.read_events(self.room, after_seq, self.seq)
                if not backlog or backlog[0][0] != after_seq + 1:
                    conn.close_soon(closecodes.HISTORY_LOST, "history moved on; reconnect for a snapshot")
                    continue
                conn.push("[" + ",".join(ev for _, ev in backlog) + "]")
            conn.seq = max(after_seq, self.seq)
            self.members.add(conn)

    async def _poll_ephemeral(self) -> None:
        """Refresh viewers, likes, stock and progress; a task of its own so it never delays a flush."""
        store, room = self._store, self.room
        while True:
            try:
                if self._pending_likes:
                    likes, self._pending_likes = self._pending_likes, 0
                    await store.add_likes(room, likes)
                viewers, likes_total, figures = await store.room_figures(
                    room, self._settings.node_id, len(self.members), now_ms()
                )
            except RedisError as err:
                log.warning("hub %s poll failed: %s", room, err)
            else:
                self._offer("viewers", viewers, events.Viewers(viewers))
                self._offer("likes", likes_total, events.Likes(likes_total))
                if figures is not None and figures.state != "ended":
                    self._offer(
                        "stock",
                        (figures.pin, figures.stock_left),
                        events.Stock(figures.pin, figures.stock_left),
                    )
                    self._offer(
                        "progress",
                        (figures.pin, figures.count),
                        events.Progress(figures.pin, figures.count, figures.next_at),
                    )
                if self._ephemeral or self._idle_since is not None:
                    self._wake.set()
            await asyncio.sleep(self._settings.ephemeral_ms / 1000)

    def _offer(self, kind: str, value: Any, event: object) -> None:
        """Keep the latest value of an ephemeral kind; send only when it changed."""
        if self._last_sent.get(kind) != value:
            self._last_sent[kind] = value
            self._ephemeral[kind] = events.encode_event(event).decode()

    async def _flush(self) -> None:
        entries, self._entries = self._entries, []
        ephemeral = list(self._ephemeral.values())
        self._ephemeral.clear()
        durable: list[tuple[int, str]] = []
        now = now_ms()
        for seq, ev, appended_ms in entries:
            if seq <= self.seq:
                continue  # already delivered (a reader restart can re-read)
            if seq != self.seq + 1:
                # Our reader fell behind the stream's retention: we cannot deliver a gap-free
                # history, so every viewer reconnects and gets a snapshot or a resume.
                log.error("hub %s: seq jumped from %d to %d", self.room, self.seq, seq)
                for conn in list(self.members):
                    conn.close_soon(closecodes.HISTORY_LOST, "history moved on; reconnect")
                self.members.clear()
                self.seq = seq
                return
            self.seq = seq
            durable.append((seq, ev))
            if appended_ms:
                self._metrics.fanout_lag(max(0, now - appended_ms))
        if not durable and not ephemeral:
            return
        shared = "[" + ",".join([ev for _, ev in durable] + ephemeral) + "]"
        n_events = len(durable) + len(ephemeral)
        for conn in list(self.members):
            if conn.closed:
                self.members.discard(conn)
                continue
            frame: str | None = shared
            if durable and conn.seq >= durable[0][0]:
                # Joined mid-batch: send only what it has not seen (rare; encoded for it alone).
                rest = [ev for seq, ev in durable if seq > conn.seq] + ephemeral
                frame = "[" + ",".join(rest) + "]" if rest else None
            if frame is not None:
                # An idle socket that drains is written at once (this await does not suspend);
                # any other is queued for its own writer, so no viewer can hold the room up.
                if conn.can_send_now():
                    self._metrics.frames_direct += 1
                    await conn.send_now(frame)
                else:
                    conn.push(frame)
            if durable:
                conn.seq = durable[-1][0]
        self._metrics.frames_out += len(self.members)
        self._metrics.deliveries_out += n_events * len(self.members)
        for _, ev in durable:
            if '"t":"mod"' in ev:
                self._enforce(orjson.loads(ev))

    def _enforce(self, event: dict[str, Any]) -> None:
        """A ban reaches every process through the stream; each closes its own sockets of that user."""
        if event.get("action") != "ban":
            return
        for conn in list(self.members):
            if conn.user_id == event.get("user"):
                conn.close_soon(closecodes.BANNED, "banned")
                self.members.discard(conn)


class HubRegistry:
    """The hubs of this process, one per room that has local viewers."""

    def __init__(self, store: RoomStore, reader_redis: Any, settings: Settings, metrics: Metrics) -> None:
        self._store = store
        self._reader_redis = reader_redis
        self._settings = settings
        self._metrics = metrics
        self._hubs: dict[str, RoomHub] = {}

    def get(self, room: str) -> RoomHub:
        hub = self._hubs.get(room)
        if hub is None or hub.stopped.is_set():
            hub = RoomHub(room, self._store, self._reader_redis, self._settings, self._metrics)
            self._hubs[room] = hub
            hub.start()
            hub.stopped_task = asyncio.create_task(self._forget(room, hub))  # type: ignore[attr-defined]
        return hub

    async def _forget(self, room: str, hub: RoomHub) -> None:
        await hub.stopped.wait()
        if self._hubs.get(room) is hub:
            del self._hubs[room]

    def __len__(self) -> int:
        return len(self._hubs)

    async def close(self) -> None:
        for hub in list(self._hubs.values()):
            await hub.stop()
        self._hubs.clear()
