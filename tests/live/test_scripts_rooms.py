"""room_put.lua and room_status.lua with the room indexes they keep, and the rooms list: a page
in two round trips, whatever the number of rooms that ever ended."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
import redis.asyncio as aioredis

from live.keys import live_rooms_index, me_channel, scheduled_rooms_index
from live.store import RoomStore, ScheduledCursor
from rooms.errors import BadRequest, Conflict, NotFound
from rooms.ids import RoomId
from rooms.room import CLEAR, RoomSettings
from tests.live.store_kit import T0, close_store, events_of, host_of, new_room, open_store, store, who
from tests.support import RedisProc

__all__ = ["store"]  # the fixture


@pytest.fixture(scope="module")
def quiet_redis() -> Iterator[RedisProc]:
    """A Redis of its own: no server process polls it, so its command counter is ours alone."""
    proc = RedisProc().start()
    yield proc
    proc.stop()


@pytest.fixture
async def quiet_store(quiet_redis: RedisProc) -> AsyncIterator[RoomStore]:
    st = await open_store(quiet_redis.url)
    yield st
    await close_store(st)


async def commands_processed(store: RoomStore) -> int:
    return int((await store.redis.info("stats"))["total_commands_processed"])


async def test_a_new_room_is_scheduled_and_a_retitle_is_an_event(store: RoomStore) -> None:
    room = "put-1"
    host = host_of(room)
    assert await store.put_room(room, 'Panda "night"', host) == (True, "scheduled")
    assert await events_of(store, room) == []  # creating is not an event: nobody can be watching
    assert await store.put_room(room, "Panda night II", host) == (False, "scheduled")
    [event] = await events_of(store, room)
    assert event == {
        "seq": 1,
        "t": "room",
        "status": "scheduled",
        "title": "Panda night II",
        "starts_at_ms": None,
        "description": "",
    }
    snap = await store.snapshot(room, now=T0)
    assert snap.room(room) == {
        "id": room,
        "title": "Panda night II",
        "status": "scheduled",
        "host": {"id": "host", "name": "Host", "followers": 0},
        "slow_s": 0,
        "pay_within_s": 0,
        "starts_at_ms": None,
        "description": "",
        "commission_bp": 0,
        "hls": None,  # v1.1 §13: nobody publishes
    }


async def test_settings_are_kept_unless_given_and_the_host_is_who_created_the_room(store: RoomStore) -> None:
    room = "put-2"
    first = RoomSettings(
        title="Tea", starts_at_ms=T0 + 60_000, description="Oolong\nand more", commission_bp=250
    )
    assert await store.put_settings(room, first, host_of(room)) == (True, "scheduled")
    # Another host token of the room changes what it is given, and nothing else; the host stays.
    other = who("cohost", "host", room, "Co")
    assert await store.put_settings(room, RoomSettings(commission_bp=300), other) == (False, "scheduled")
    got = (await store.snapshot(room, now=T0)).room(room)
    assert (got["title"], got["starts_at_ms"], got["description"], got["commission_bp"]) == (
        "Tea",
        T0 + 60_000,
        "Oolong\nand more",
        300,
    )
    assert got["host"] == {"id": "host", "name": "Host", "followers": 0}
    await store.put_settings(room, RoomSettings(starts_at_ms=CLEAR), host_of(room))
    assert (await store.snapshot(room, now=T0)).room(room)["starts_at_ms"] is None
    [_, cleared] = await events_of(store, room)
    assert cleared["starts_at_ms"] is None and cleared["description"] == "Oolong\nand more"
    with pytest.raises(BadRequest, match="title"):
        await store.put_settings("put-3", RoomSettings(commission_bp=1), host_of("put-3"))


async def test_scheduled_rooms_come_soonest_first_and_page_through_ties(store: RoomStore) -> None:
    host = who("h", "host", None, "Hana")
    plan = {"sch-c": T0 + 3_000, "sch-a": T0 + 1_000, "sch-b": T0 + 1_000, "sch-d": None, "sch-e": None}
    for room, starts in plan.items():
        settings = RoomSettings(title=room, starts_at_ms=starts)
        await store.put_settings(room, settings, dataclasses.replace(host, room=RoomId(room)))
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.scheduled_rooms(cursor, limit=2)
        seen += [r["id"] for r in page.rooms]
        if page.next is None:
            break
        cursor = ScheduledCursor.parse(page.next)
    # Ties on the start in id order; rooms with no start after every planned one, oldest first.
    assert seen == ["sch-a", "sch-b", "sch-c", "sch-d", "sch-e"]
    entry = (await store.scheduled_rooms()).rooms[0]
    assert entry == {
        "id": "sch-a",
        "title": "sch-a",
        "status": "scheduled",
        "host": {"id": "h", "name": "Hana"},
        "starts_at_ms": T0 + 1_000,
        "description": "",
    }
    await store.set_status("sch-a", "start", T0)
    await store.put_settings(
        "sch-c", RoomSettings(starts_at_ms=T0), dataclasses.replace(host, room=RoomId("sch-c"))
    )
    assert [r["id"] for r in (await store.scheduled_rooms()).rooms] == ["sch-c", "sch-b", "sch-d", "sch-e"]


async def test_going_live_is_one_broadcast_whatever_the_audience(store: RoomStore, redis_url: str) -> None:
    room = await new_room(store, "scheduled")
    listener = aioredis.Redis.from_url(redis_url)
    pubsub = listener.pubsub()
    await pubsub.subscribe(me_channel(store.settings.key_prefix, "!live"))
    try:
        await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        await store.set_status(room, "start", T0)
        await store.set_status(room, "start", T0)  # a repeated start tells nobody again
        message = await pubsub.get_message(timeout=5.0)
        assert message is not None and orjson.loads(message["data"]) == {
            "id": room,
            "title": "Show",
            "host": {"id": "host", "name": "Host"},
        }
        assert await pubsub.get_message(timeout=0.3) is None
    finally:
        await pubsub.aclose()
        await listener.aclose()


async def test_status_transitions(store: RoomStore) -> None:
    room = await new_room(store, "scheduled")
    assert await store.set_status(room, "start", T0) == "live"
    assert await store.set_status(room, "start", T0) == "live"  # a retry is a no-op
    assert await store.set_status(room, "stop", T0) == "ended"
    with pytest.raises(Conflict):
        await store.set_status(room, "start", T0)
    statuses = [e["status"] for e in await events_of(store, room)]
    assert statuses == ["live", "ended"]
    with pytest.raises(NotFound):
        await store.set_status("nowhere", "start", T0)


async def test_the_indexes_follow_the_status(store: RoomStore) -> None:
    prefix = store.settings.key_prefix
    live, scheduled = live_rooms_index(prefix), scheduled_rooms_index(prefix)
    room = await new_room(store, "scheduled")
    assert await store.redis.zscore(scheduled, room) is not None
    assert await store.redis.zscore(live, room) is None
    await store.put_room(room, "retitled", host_of(room))  # keeps its place among scheduled rooms
    await store.set_status(room, "start", T0)
    assert await store.redis.zscore(scheduled, room) is None and await store.redis.zscore(live, room) == 0
    await store.set_status(room, "stop", T0)
    assert await store.redis.zscore(live, room) is None and await store.redis.zscore(scheduled, room) is None


async def test_the_list_is_the_live_rooms_in_a_fixed_number_of_commands(quiet_store: RoomStore) -> None:
    store = quiet_store
    rooms = [f"room-{i:03d}" for i in range(300)]
    for room in rooms:
        await store.put_room(room, f"Show {room}", who("h", "host", room, "Hana"))
    for room in rooms[:5]:
        await store.set_status(room, "start", T0)
    for room in rooms[:2]:
        await store.set_status(room, "stop", T0)

    async def listed() -> tuple[list[str], int]:
        before = await commands_processed(store)
        page = await store.live_rooms()
        used = await commands_processed(store) - before - 1  # the second INFO counts itself
        assert page.next is None
        return [r["id"] for r in page.rooms], used

    ids, used = await listed()
    assert ids == rooms[2:5]
    assert used == 1 + 2 * 3  # the index page, then one pipeline: title/status and viewers per room
    for i in range(300, 400):  # a hundred more shows that came and went
        room = f"room-{i:03d}"
        await store.put_room(room, "gone", who("h", "host", room, "Hana"))
        await store.set_status(room, "start", T0)
        await store.set_status(room, "stop", T0)
    assert await listed() == (ids, used)


async def test_list_shape_and_viewers(store: RoomStore) -> None:
    room = await new_room(store, title="Panda night")
    k = store.keys(room)
    far = 2**50  # a report that has not expired
    await store.redis.hset(k.viewers, mapping={"a": f"3:{far}", "b": f"4:{far}", "old": "9:1"})
    page = await store.live_rooms()
    entry = next(r for r in page.rooms if r["id"] == room)
    assert entry == {"id": room, "title": "Panda night", "host": {"id": "host", "name": "Host"}, "viewers": 7}


async def test_paging_gives_each_live_room_once_and_skips_stale_entries(store: RoomStore) -> None:
    live = [await new_room(store) for _ in range(7)]
    for room in live[:2]:
        await store.set_status(room, "stop", T0)
    index = live_rooms_index(store.settings.key_prefix)
    # A room that ended while the index update was lost (a crash between the two steps).
    stale = await new_room(store)
    await store.redis.hset(store.keys(stale).meta, "status", "ended")
    assert await store.redis.zscore(index, stale) == 0
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await store.live_rooms(cursor, limit=2)
        seen += [r["id"] for r in page.rooms]
        pages += 1
        if page.next is None:
            break
        cursor = page.next
    assert sorted(seen) == sorted(live[2:]) and len(seen) == len(set(seen))
    assert pages == 3  # 6 index entries, 2 a page; the last one says there is no next
    assert await store.redis.zscore(index, stale) is None  # dropped from the index on the way
