"""room_put.lua and room_status.lua with the room indexes they keep, and the rooms list: a page
in two round trips, whatever the number of rooms that ever ended."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from live.keys import live_rooms_index, scheduled_rooms_index
from live.store import RoomStore
from rooms.errors import Conflict, NotFound
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
    assert event == {"seq": 1, "t": "room", "status": "scheduled", "title": "Panda night II"}
    snap = await store.snapshot(room, now=T0)
    assert snap.room(room) == {
        "id": room,
        "title": "Panda night II",
        "status": "scheduled",
        "host": {"id": "host", "name": "Host"},
        "slow_s": 0,
        "pay_within_s": 0,
    }


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
    assert entry == {"id": room, "title": "Panda night", "host": {"name": "Host"}, "viewers": 7}


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
