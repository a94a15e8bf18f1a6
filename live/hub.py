"""One hub per active room per process: the I/O shell around the room's feed (``rooms/feed.py``).

The feed decides who gets what, with no I/O; the hub runs the tasks and executes what it says:

- the reader follows the room's Redis stream from the last id it saw (XREAD BLOCK), so nothing
  between processes can be lost silently (no pub/sub to drop messages); the feed checks that
  every entry's ``seq`` rises by exactly one;
- the admitter reads the backlog (XRANGE) each join needs;
- the poller refreshes the ephemeral state (viewers, likes, stock, progress) into the feed's
  latest-value slots;
- the fan-out loop flushes the feed once per tick and writes its one shared frame to every
  member: at once to an idle, writable socket, else into the member's outbox.

Failure rule: a Redis error is retried, with backoff, where it happened (the reader from the
same id, a backlog for the joins that need it, which stay waiting, the start-up read of the
current seq); any other exception in any task stops the hub and closes every viewer it holds or
is admitting with 1011, so each reconnects and resumes with ``since`` on the fresh hub that the
registry hands out in place of a stopped one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.exceptions import RedisError

from live import closecodes
from live.cancellation import cancel_and_wait
from live.connection import Connection
from live.metrics import Metrics
from live.settings import Settings
from live.store import RoomStore, now_ms
from live.wsframe import text_frame
from rooms import events
from rooms.errors import RoomError
from rooms.feed import Action, Broadcast, Close, CloseReason, Deliver, Entry, FetchBacklog, RoomFeed

log = logging.getLogger("live.hub")
T = TypeVar("T")

# The feed says why; the one table of close codes says with what.
CLOSES = {
    CloseReason.HISTORY_LOST: (closecodes.HISTORY_LOST, "history moved on; reconnect for a snapshot"),
    CloseReason.BANNED: (closecodes.BANNED, "banned"),
}
RETRY_FIRST_S = 0.05  # the first wait after a Redis error; doubled each time up to RETRY_MAX_S
RETRY_MAX_S = 2.0
NEVER_MS = 2**62  # a deadline that never comes


def ephemeral_interval_ms(ephemeral_ms: int, connections: int, sends_per_s: int) -> float:
    """How often the figures (viewers, likes, stock, progress) are polled and offered:
    ``ephemeral_ms``, longer when one frame of them to every viewer of this process would take
    more than a quarter of ``sends_per_s``. In a join storm the viewer count changes at every
    poll, and at 10,000 viewers a 250 ms refresh alone would be the whole send budget."""
    if not sends_per_s:
        return float(ephemeral_ms)
    return max(float(ephemeral_ms), 4000 * connections / sends_per_s)


def viewer_count_wait_ms(ephemeral_ms: int, connections: int, sends_per_s: int) -> float:
    """The longest a changed viewer count waits for other figures or events to ride along with
    before it makes a frame of its own: ``ephemeral_ms``, longer when a frame of it alone to
    every viewer of this process would take more than a sixteenth of ``sends_per_s``. In a join
    storm the count is all that changes, and it would otherwise cost a quarter of the budget
    while the joins themselves want every core (10,000 viewers -> 4 s)."""
    if not sends_per_s:
        return float(ephemeral_ms)
    return max(float(ephemeral_ms), 16000 * connections / sends_per_s)


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
        self._feed: RoomFeed[Connection] = RoomFeed()
        self._wake = asyncio.Event()  # something to flush, or time to check for idleness
        self._joins_wake = asyncio.Event()  # a join waits for its backlog
        self._pending_likes = 0
        self._bag_v = 0  # the bag stock version the poller last saw (store.room_figures)
        self._pin_deadline_ms: int | None = None  # when time next acts on the pin or drop (None: not known)
        self._last_flush_ms = 0.0  # how long the last fan-out held the event loop
        self._idle_since: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.stopped = asyncio.Event()

    @property
    def seq(self) -> int:
        """The last durable seq queued to members."""
        return self._feed.seq

    # Called by the gateway (never awaits Redis)

    def join(self, conn: Connection, after_seq: int) -> None:
        """Deliver every durable event after ``after_seq`` to ``conn``, then all new ones."""
        if self.stopped.is_set():
            # Never strand a viewer on a hub that no longer runs: it reconnects to a fresh one.
            conn.close_soon(closecodes.SERVER_ERROR, "room hub restarted")
            return
        if not self._feed.join(conn, after_seq, conn.user_id):
            self._joins_wake.set()
        self._idle_since = None

    def leave(self, conn: Connection) -> None:
        self._feed.leave(conn)
        if not self._feed.holds:
            self._idle_since = time.monotonic()

    def add_likes(self, n: int) -> None:
        """Likes are summed locally and written once per poll, not once per tap."""
        self._pending_likes += n

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"hub:{self.room}")

    async def stop(self) -> None:
        if self._task:
            await cancel_and_wait(self._task)
        self.stopped.set()  # also when cancelled before it ever ran

    # The hub's own tasks

    async def _run(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        try:
            seq = await self._retrying("current seq read", self._current_seq)
            if seq is None:
                return  # every viewer left while Redis was away
            self._feed.start(seq)
            tasks = [
                asyncio.create_task(self._read_stream(seq), name=f"hub-reader:{self.room}"),
                asyncio.create_task(self._poll_ephemeral(), name=f"hub-poller:{self.room}"),
                asyncio.create_task(self._admit_joins(), name=f"hub-admitter:{self.room}"),
                asyncio.create_task(self._fan_out(), name=f"hub-fanout:{self.room}"),
            ]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a task that failed fails the hub; the fan-out returns when idle
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("hub %s failed; its viewers reconnect and resume", self.room)
            self._fail()
        finally:
            self.stopped.set()
            for task in tasks:
                task.cancel()  # all of them first: a second cancel of this task may cut the waits short
            for task in tasks:
                await cancel_and_wait(task)

    def _fail(self) -> None:
        # Stopped before any await, so no join lands on this hub after its viewers were closed.
        self.stopped.set()
        for conn in self._feed.release_all():
            conn.close_soon(closecodes.SERVER_ERROR, "room hub restarted")

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """``call()``, retried with backoff while Redis fails; None once the hub went idle."""
        backoff = RETRY_FIRST_S
        while True:
            try:
                return await call()
            except RedisError as err:
                log.warning("hub %s %s failed (%s); retrying", self.room, what, err)
            if self._idle_expired():
                return None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX_S)

    async def _fan_out(self) -> None:
        last_flush = 0.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._idle_expired():
                # Marked before any await, so the registry never hands this hub a new viewer.
                self.stopped.set()
                return
            tick_s = self._tick_s()
            if self._feed.has_durable and tick_s:
                delay = last_flush + tick_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if self._feed.output_due(now_ms()):
                # Stamped before the flush: a tick is measured start to start, so a flush
                # that takes long (thousands of viewers) does not add its length to the next wait.
                last_flush = time.monotonic()
                self._flush()
                self._last_flush_ms = (time.monotonic() - last_flush) * 1000

    def _tick_s(self) -> float:
        s = self._settings
        return (
            effective_tick_ms(s.tick_ms, self._metrics.connections, s.sends_per_s, self._last_flush_ms) / 1000
        )

    def _idle_expired(self) -> bool:
        if self._feed.holds or self._idle_since is None:
            return False
        return (time.monotonic() - self._idle_since) * 1000 >= self._settings.hub_idle_ms

    async def _current_seq(self) -> int:
        value = await self._store.redis.hget(self._store.keys(self.room).meta, "seq")
        return int(value or 0)

    async def _read_stream(self, after_seq: int) -> None:
        key = self._store.keys(self.room).events
        last_id = f"{after_seq}-0"
        backoff = RETRY_FIRST_S
        while True:
            try:
                reply = await self._reader_redis.xread({key: last_id}, count=1000, block=1000)
                backoff = RETRY_FIRST_S
            except RedisError as err:
                # Redis went away: read again from the same id once it is back, so nothing is skipped.
                log.warning("hub %s stream read failed (%s); retrying", self.room, err)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            if not reply:
                continue
            entries: list[Entry] = []
            for _stream, stream_entries in reply:
                for entry_id, fields in stream_entries:
                    entries.append((int(entry_id.split("-", 1)[0]), fields["e"], int(fields.get("ms", 0))))
                    last_id = entry_id
            closes = self._feed.receive(entries)
            if closes:
                log.error("hub %s: seq jumped to %d; closing %d viewers", self.room, self.seq, len(closes))
                self._execute(closes)
            self._wake.set()

    async def _admit_joins(self) -> None:
        """Read each waiting join's backlog and hand it to the feed; a Redis error keeps the
        joins waiting and retries them after a backoff, while the room's fan-out goes on."""
        self._joins_wake.set()  # joins may have arrived before the room's seq was known
        backoff = RETRY_FIRST_S
        while True:
            await self._joins_wake.wait()
            self._joins_wake.clear()
            fetches = self._feed.fetches()
            failed = False
            while fetches:
                fetch = fetches.pop(0)
                if fetch.member.closed:
                    self._feed.leave(fetch.member)
                    continue
                if failed:  # Redis just failed: the rest wait for the retry too
                    self._feed.backlog_failed(fetch.member)
                    continue
                try:
                    backlog = await self._store.read_events(self.room, fetch.after_seq, fetch.upto_seq)
                except RedisError as err:
                    log.warning("hub %s backlog read failed (%s); retrying", self.room, err)
                    self._feed.backlog_failed(fetch.member)
                    failed = True
                    continue
                fetches += self._execute(self._feed.backlog(fetch.member, backlog))
            if failed:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                self._joins_wake.set()
            else:
                backoff = RETRY_FIRST_S

    def _execute(self, actions: Sequence[Action[Connection]]) -> list[FetchBacklog[Connection]]:
        """Carry out a backlog's or the reader's actions; return the backlogs still to read."""
        more: list[FetchBacklog[Connection]] = []
        for action in actions:
            if isinstance(action, Deliver):
                action.member.push(action.frame, action.size)
            elif isinstance(action, Close):
                action.member.close_soon(*CLOSES[action.reason])
            elif isinstance(action, FetchBacklog):
                more.append(action)
        return more

    async def _poll_ephemeral(self) -> None:
        """Refresh viewers, likes, stock and progress; a task of its own so it never delays a flush."""
        store, room, feed = self._store, self.room, self._feed
        while True:
            try:
                if self._pending_likes:
                    likes, self._pending_likes = self._pending_likes, 0
                    await store.add_likes(room, likes)
                now = now_ms()
                interval_ms = self._ephemeral_interval_ms()
                deadline = self._pin_deadline_ms
                due = deadline is None or now >= deadline
                polled = await store.room_figures(
                    room, self._settings.node_id, len(feed), now, self._bag_v, due
                )
            except (RedisError, RoomError) as err:
                # A script that answered an error is as transient here as a lost connection.
                log.warning("hub %s poll failed: %s", room, err)
            else:
                viewers, likes_total, figures = polled.viewers, polled.likes, polled.pin
                settings = self._settings
                wait_ms = viewer_count_wait_ms(
                    settings.ephemeral_ms, self._metrics.connections, settings.sends_per_s
                )
                # Due by the poll at most wait_ms from now; lazy only where that is a later poll.
                alone_from = now + int(wait_ms - interval_ms) if wait_ms > interval_ms else None
                feed.offer("viewers", viewers, events.Viewers(viewers), alone_from)
                feed.offer("likes", likes_total, events.Likes(likes_total))
                self._bag_v = polled.bag_v
                # No pin or drop running: only a new one (its own script) gives time work here.
                deadline = polled.tick.deadline_ms
                self._pin_deadline_ms = NEVER_MS if deadline is None else deadline
                drop = polled.tick.drop
                if drop is not None and drop.running:
                    feed.offer("drop_left", (drop.drop, drop.left), events.DropLeft(drop.drop, drop.left))
                # A slot per product: a newer count supersedes an unsent one, and one already sent
                # is not sent again (the feed's rule), so only the counts that changed go out.
                for product, left in (polled.bag_left or {}).items():
                    feed.offer(f"bag_stock:{product}", left, events.BagStock({product: left}))
                if figures is not None and figures.state != "ended":
                    feed.offer(
                        "stock",
                        (figures.pin, figures.stock_left),
                        events.Stock(figures.pin, figures.stock_left),
                    )
                    feed.offer(
                        "progress",
                        (figures.pin, figures.count),
                        events.Progress(figures.pin, figures.count, figures.next_at),
                    )
                if feed.output_due(now) or self._idle_since is not None:
                    self._wake.set()
            await asyncio.sleep(self._ephemeral_interval_ms() / 1000)

    def _ephemeral_interval_ms(self) -> float:
        s = self._settings
        return ephemeral_interval_ms(s.ephemeral_ms, self._metrics.connections, s.sends_per_s)

    def _flush(self) -> None:
        metrics = self._metrics
        for action in self._feed.flush(now_ms()):
            if isinstance(action, Broadcast):
                for lag in action.lags_ms:
                    metrics.fanout_lag(lag)
                frame, size = action.frame, action.size
                wire = text_frame(frame.encode())  # the same bytes for every socket
                sent = direct = 0
                for conn in action.members:
                    if conn.closed:
                        self._feed.leave(conn)
                        continue
                    # An idle socket that drains is written at once; any other is queued for
                    # its own writer, so no viewer can hold the room up.
                    direct += conn.push(frame, size, wire)
                    sent += 1
                metrics.frames_direct += direct
                metrics.frames_out += sent
                metrics.deliveries_out += action.events * sent
            elif isinstance(action, Deliver):
                # Joined mid-batch, or banned within it: a frame encoded for it alone (rare).
                metrics.frames_direct += action.member.push(action.frame, action.size)
                metrics.frames_out += 1
                metrics.deliveries_out += action.events
            elif isinstance(action, Close):
                action.member.close_soon(*CLOSES[action.reason])


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
