"""The hub: its adaptive tick, and that it survives Redis errors without stranding a viewer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from live import closecodes
from live.auth import Identity, Role
from live.connection import Connection
from live.hub import HubRegistry, effective_tick_ms, ephemeral_interval_ms, viewer_count_wait_ms
from live.metrics import Metrics
from live.redis_client import connect
from live.settings import Settings
from live.store import RoomStore, now_ms
from rooms.ids import UserId
from tests.support import RedisProc, free_port, new_prefix, unique_room, until


def test_tick_holds_until_the_send_budget_binds() -> None:
    assert effective_tick_ms(50, 1000, 40_000) == 50
    assert effective_tick_ms(50, 2000, 40_000) == 50
    assert effective_tick_ms(50, 5000, 40_000) == 125
    assert effective_tick_ms(100, 5000, 40_000) == 125


def test_zero_means_off() -> None:
    assert effective_tick_ms(0, 5000, 40_000) == 0
    assert effective_tick_ms(50, 100_000, 0) == 50


def test_figures_take_at_most_a_quarter_of_the_send_budget() -> None:
    assert ephemeral_interval_ms(250, 1000, 40_000) == 250
    assert ephemeral_interval_ms(250, 2500, 40_000) == 250
    assert ephemeral_interval_ms(250, 10_000, 40_000) == 1000
    assert ephemeral_interval_ms(250, 10_000, 0) == 250


def test_a_viewer_count_alone_takes_at_most_a_sixteenth_of_the_send_budget() -> None:
    assert viewer_count_wait_ms(250, 300, 40_000) == 250  # a small room: every poll
    assert viewer_count_wait_ms(250, 1000, 40_000) == 400
    assert viewer_count_wait_ms(250, 10_000, 40_000) == 4000
    assert viewer_count_wait_ms(250, 10_000, 0) == 250


def test_a_slow_flush_stretches_the_tick() -> None:
    assert effective_tick_ms(50, 5000, 40_000, last_flush_ms=90) == 180
    assert effective_tick_ms(50, 10, 40_000, last_flush_ms=10) == 50


# The hub against a real Redis, with viewers on real Connection objects over a recording socket.


class Socket:
    """What a viewer's socket was sent, and how it was closed."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.close_code: int | None = None

    async def send_text(self, text: str) -> None:
        self.events.extend(orjson.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.close_code = code

    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.events if "seq" in e]


class Room:
    """One room, a hub registry serving it, and its viewers; ``store.redis`` can be broken."""

    def __init__(self, redis_proc: RedisProc) -> None:
        self.settings = Settings(key_prefix=new_prefix(), tick_ms=20, ephemeral_ms=50)
        self.good = connect(redis_proc.url)
        # A port nothing listens on: every command fails at once with a connection error.
        self.down = connect(f"redis://127.0.0.1:{free_port()}/0", socket_timeout_s=0.5)
        self.reader = connect(redis_proc.url, socket_timeout_s=10.0, max_connections=0)
        self.store = RoomStore(self.good, self.settings)  # what the hub reads through
        self.poster = RoomStore(self.good, self.settings)  # what the test writes through
        self.hubs = HubRegistry(self.store, self.reader, self.settings, Metrics())
        self.id = unique_room("hub")
        self.conns: list[Connection] = []

    async def open(self) -> Room:
        await self.poster.put_room(self.id, "Show", HOST)
        await self.poster.set_status(self.id, "start")
        return self

    async def seq(self) -> int:
        return int(await self.good.hget(self.poster.keys(self.id).meta, "seq") or 0)

    async def post(self, text: str) -> int:
        return await self.poster.post_chat(self.id, HOST, text, now_ms())

    def viewer(self, after_seq: int, user: str | None = None) -> Socket:
        sock = Socket()
        identity = Identity(UserId(user), user, Role.VIEWER, None) if user else None
        conn = Connection(
            room=self.id,
            identity=identity,
            viewer_key=user or f"anon-{len(self.conns)}",
            send_text=sock.send_text,
            close=sock.close,
            outbox_max_bytes=1 << 20,
        )
        conn.start()
        self.conns.append(conn)
        self.hubs.get(self.id).join(conn, after_seq)
        return sock

    async def close(self) -> None:
        await self.hubs.close()
        for conn in self.conns:
            await conn.stop()
        for store in (self.store, self.poster):
            await store.batcher.close()
        for client in (self.good, self.down, self.reader):
            await client.aclose()


HOST = Identity(UserId("host"), "Host", Role.HOST, None)


@pytest.fixture
async def room(redis_proc: RedisProc) -> AsyncIterator[Room]:
    r = await Room(redis_proc).open()
    yield r
    await r.close()


def hub_complained(caplog: pytest.LogCaptureFixture) -> Callable[[], bool]:
    """The hub logged a failure (so the broken Redis was hit)."""
    return lambda: any(r.name == "live.hub" and r.levelno >= logging.WARNING for r in caplog.records)


async def test_a_failed_backlog_read_is_retried_and_the_room_goes_on(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    first = await room.post("one")
    watching = room.viewer(first)
    second = await room.post("two")
    await until("the first viewer to get a post", lambda: watching.seqs() == [second])

    room.store.redis = room.down
    resuming = room.viewer(0)  # resumes from the start: needs its backlog read from Redis
    await until("a failed backlog read", hub_complained(caplog))
    third = await room.post("three")
    await until("the room to go on without it", lambda: watching.seqs() == [second, third])
    assert resuming.close_code is None

    room.store.redis = room.good  # Redis is back for the hub
    await until("the backlog", lambda: third in resuming.seqs())
    fourth = await room.post("four")
    await until("a live post", lambda: fourth in resuming.seqs() and fourth in watching.seqs())
    assert resuming.seqs() == list(range(1, fourth + 1))
    assert watching.close_code is None and resuming.close_code is None


async def test_a_failed_read_of_the_seq_at_start_is_retried(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    start = await room.seq()
    room.store.redis = room.down
    viewer = room.viewer(start)
    await until("a failed start", hub_complained(caplog))
    room.store.redis = room.good
    posted = await room.post("hello")
    await until("the post", lambda: viewer.seqs() == [posted])
    assert viewer.close_code is None


async def test_a_failed_hub_closes_everyone_it_holds_and_is_replaced(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    posted = await room.post("one")
    member = room.viewer(posted)
    hub = room.hubs.get(room.id)
    await until("the hub to run", lambda: hub.seq == posted)
    room.store.redis = room.down
    joining = room.viewer(0)
    await until("a failed backlog read", hub_complained(caplog))

    # An entry the reader cannot parse: an unexpected error, not a Redis one.
    events_key = room.store.keys(room.id).events
    await room.good.xadd(events_key, {"junk": "1"}, id=f"{posted}-1")
    await until(
        "both viewers closed", lambda: member.close_code is not None and joining.close_code is not None
    )
    assert member.close_code == joining.close_code == closecodes.SERVER_ERROR
    assert hub.stopped.is_set()

    await room.good.xdel(events_key, f"{posted}-1")
    room.store.redis = room.good
    fresh = room.hubs.get(room.id)
    assert fresh is not hub
    late = room.viewer(posted)
    second = await room.post("two")
    await until("the fresh hub to deliver", lambda: late.seqs() == [second])


async def test_a_join_on_a_stopped_hub_is_closed_not_stranded(room: Room) -> None:
    hub = room.hubs.get(room.id)
    await hub.stop()
    sock = Socket()
    conn = Connection(
        room=room.id,
        identity=None,
        viewer_key="anon",
        send_text=sock.send_text,
        close=sock.close,
        outbox_max_bytes=1 << 20,
    )
    conn.start()
    room.conns.append(conn)
    hub.join(conn, 0)
    await until("the close", lambda: sock.close_code == closecodes.SERVER_ERROR)
