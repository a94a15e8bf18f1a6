"""The archive move in _lib.lua's ``emit`` and history.lua, run by the real Redis: every event of a
room is in exactly one of stream and archive, and pages read both as one sequence."""

from __future__ import annotations

import orjson

from kit.procs import ClusterProcs
from live.history import read_page
from live.store import RoomStore
from tests.live.store_kit import T0, close_store, new_room, open_store, seq_of, store, who

__all__ = ["store"]  # the fixture

KEEP = 500  # store_kit's history_keep
CHUNK = 100  # _lib.lua ARCHIVE_CHUNK


async def post(store: RoomStore, room: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await store.post_chat(room, who(f"u{i % 7}"), f"line {i}", T0 + i)


async def every_seq(store: RoomStore, room: str, limit: int) -> list[int]:
    seqs: list[int] = []
    after: int | None = 0
    while after is not None:
        page = await read_page(store, room, after, limit)
        seqs.extend(e["seq"] for _, e in page.events)
        assert all(ms > 0 for ms, _ in page.events)
        after = page.next
    return seqs


async def test_the_stream_keeps_the_window_and_the_archive_takes_whole_chunks(store: RoomStore) -> None:
    room = await new_room(store)
    await post(store, room, KEEP + 2 * CHUNK + 30)
    latest = await seq_of(store, room)
    k = store.keys(room)
    length = await store.redis.xlen(k.events)
    assert KEEP <= length < KEEP + CHUNK
    archived = int(await store.redis.hget(k.meta, "archived"))
    first = await store.redis.xrange(k.events, count=1)
    assert first[0][0] == f"{archived * CHUNK + 1}-0"  # the stream starts right after the archive
    assert await store.redis.hlen(k.archive) == archived
    chunk0 = orjson.loads(await store.redis.hget(k.archive, "0"))
    assert [e["seq"] for _, e in chunk0] == list(range(1, CHUNK + 1))
    assert latest == archived * CHUNK + length


async def test_pages_cross_the_archive_and_the_stream_without_a_gap_or_a_double(store: RoomStore) -> None:
    room = await new_room(store)
    await post(store, room, KEEP + 3 * CHUNK + 17)
    latest = await seq_of(store, room)
    for limit in (1000, 37, 100):
        assert await every_seq(store, room, limit) == list(range(1, latest + 1))
    page = await read_page(store, room, 150, 10)  # inside an archived chunk
    assert [e["seq"] for _, e in page.events] == list(range(151, 161)) and page.next == 160
    end = await read_page(store, room, latest - 3, 10)
    assert [e["seq"] for _, e in end.events] == list(range(latest - 2, latest + 1)) and end.next is None
    assert (await read_page(store, room, latest, 10)).events == []


async def test_a_page_is_the_same_event_as_the_live_stream_sent(store: RoomStore) -> None:
    room = await new_room(store)
    await post(store, room, 3)
    page = await read_page(store, room, 0, 1000)
    raw = [orjson.loads(e) for _, e in await store.read_events(room, 0)]
    assert [e for _, e in page.events] == raw


async def test_a_stream_trimmed_before_archives_existed_leaves_a_gap_the_cursor_steps_over(
    store: RoomStore,
) -> None:
    room = await new_room(store)
    await post(store, room, 250)
    k = store.keys(room)
    # As the server before archives did: the oldest entries dropped for good.
    await store.redis.xtrim(k.events, minid="221-0", approximate=False)
    await post(store, room, KEEP, start=250)
    latest = await seq_of(store, room)
    seqs = await every_seq(store, room, 100)
    assert seqs == list(range(221, latest + 1))
    assert await store.redis.hexists(k.archive, "0") == 0  # nothing to keep: no empty chunk either


async def test_the_archive_lives_in_the_rooms_slot_on_a_redis_cluster() -> None:
    # emit names the archive after the stream (same hash tag) without listing it in KEYS: a
    # Cluster must accept that, and history.lua must read it back.
    cluster = ClusterProcs(3)
    try:
        st = await open_store(cluster.url, history_keep=200)
        try:
            room = await new_room(st)
            await post(st, room, 200 + 2 * CHUNK + 5)
            assert await st.redis.hlen(st.keys(room).archive) == 2
            assert await every_seq(st, room, 97) == list(range(1, await seq_of(st, room) + 1))
        finally:
            await close_store(st)
    finally:
        cluster.stop()
