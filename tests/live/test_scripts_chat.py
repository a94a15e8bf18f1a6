"""chat_post.lua, moderate.lua, snapshot.lua and viewers_report.lua, run by the real Redis with
an explicit ``now``: every branch, and the moderation rules (who may act on whom)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from live.store import RoomStore
from rooms.errors import BadRequest, Banned, Duplicate, Ended, Forbidden, Muted, NotFound, RateLimited
from rooms.moderation import ModAction, ModerationCommand
from tests.live.store_kit import (
    T0,
    close_store,
    events_of,
    host_of,
    kinds,
    mod_of,
    new_room,
    open_store,
    put_pin,
    seq_of,
    store,
    who,
)

__all__ = ["store"]  # the fixture

BOB, ANN = who("bob"), who("ann")


@pytest.fixture
async def limited(redis_url: str) -> AsyncIterator[RoomStore]:
    """A store with the default rate limit: 5 posts per 10 s."""
    st = await open_store(redis_url, chat_rate_posts=5, chat_rate_window_ms=10_000)
    yield st
    await close_store(st)


def cmd(
    action: str, user: str | None = None, seconds: int | None = None, seq: int | None = None
) -> ModerationCommand:
    return ModerationCommand(ModAction(action), user, seconds, seq)  # type: ignore[arg-type]


# --- chat_post.lua --------------------------------------------------------------------------


async def test_a_post_gets_the_next_seq_and_is_appended(store: RoomStore) -> None:
    room = await new_room(store)
    start = await seq_of(store, room)
    seq = await store.post_chat(room, BOB, "hello", T0)
    assert seq == start + 1
    [event] = await events_of(store, room, start)
    assert event == {
        "seq": seq,
        "t": "chat",
        "user": {"id": "bob", "name": "Bob"},
        "text": "hello",
        "ts_ms": T0,
    }
    assert (await store.stats(room))["chat_posts"] == 1


async def test_recent_chat_is_trimmed_to_the_setting(store: RoomStore) -> None:
    room = await new_room(store)
    seqs = [await store.post_chat(room, BOB, f"line {i}", T0 + i) for i in range(5)]
    snap = await store.snapshot(room, now=T0 + 10)
    assert [orjson.loads(c)["seq"] for c in snap.chat] == seqs[-3:]  # recent_chat = 3


async def test_not_found_and_ended(store: RoomStore) -> None:
    with pytest.raises(NotFound):
        await store.post_chat("nowhere", BOB, "hi", T0)
    with pytest.raises(Ended):
        await store.post_chat(await new_room(store, "ended"), BOB, "hi", T0)


async def test_banned_and_muted_with_retry(store: RoomStore) -> None:
    room = await new_room(store)
    host = host_of(room)
    await store.moderate(room, cmd("ban", "bob"), host, now=T0)
    with pytest.raises(Banned):
        await store.post_chat(room, BOB, "hi", T0)
    await store.moderate(room, cmd("mute", "ann", 60), host, now=T0)
    with pytest.raises(Muted) as muted:
        await store.post_chat(room, ANN, "hi", T0 + 15_000)
    assert muted.value.retry_after_ms == 45_000
    assert await store.post_chat(room, ANN, "hi", T0 + 60_000) > 0  # the mute is over


async def test_slow_mode_holds_viewers_not_staff(store: RoomStore) -> None:
    room = await new_room(store)
    await store.moderate(room, cmd("slow", seconds=10), host_of(room), now=T0)
    await store.post_chat(room, BOB, "one", T0)
    with pytest.raises(RateLimited) as slow:
        await store.post_chat(room, BOB, "two", T0 + 4_000)
    assert slow.value.retry_after_ms == 6_000 and "slow mode" in slow.value.message
    assert await store.post_chat(room, BOB, "two", T0 + 10_000) > 0
    for staff in (host_of(room), mod_of(room)):
        await store.post_chat(room, staff, "a", T0)
        assert await store.post_chat(room, staff, "b", T0 + 1) > 0


async def test_rate_limit_is_a_sliding_window(limited: RoomStore) -> None:
    room = await new_room(limited)
    for i in range(5):
        await limited.post_chat(room, BOB, f"post {i}", T0 + i * 1_000)
    with pytest.raises(RateLimited) as info:
        await limited.post_chat(room, BOB, "one more", T0 + 5_000)
    assert info.value.retry_after_ms == 5_000  # when the oldest post leaves the window
    assert await limited.post_chat(room, ANN, "someone else", T0 + 5_000) > 0
    assert await limited.post_chat(room, BOB, "one more", T0 + 10_000) > 0


async def test_duplicate_within_the_window_only(store: RoomStore) -> None:
    room = await new_room(store)
    await store.post_chat(room, BOB, "same", T0)
    with pytest.raises(Duplicate):
        await store.post_chat(room, BOB, "same", T0 + 29_999)
    assert await store.post_chat(room, ANN, "same", T0 + 1) > 0  # another user
    assert await store.post_chat(room, BOB, "same", T0 + 30_000) > 0


@pytest.mark.parametrize(("mode", "count"), [("posts", 4), ("posters", 2)])
async def test_posts_and_posters_counting(store: RoomStore, mode: str, count: int) -> None:
    room = await new_room(store)
    tiers = [{"at": 0, "price_cents": 900}, {"at": 100, "price_cents": 800}]
    await put_pin(store, room, id="p1", count=mode, tiers=tiers)
    for user, text in ((BOB, "a"), (BOB, "b"), (ANN, "c"), (ANN, "d")):
        await store.post_chat(room, user, text, T0)
    figures = await store.tick_pin(room, T0)
    assert figures is not None and figures.count == count


async def test_a_tier_is_crossed_by_one_post_and_announced_once(store: RoomStore) -> None:
    room = await new_room(store)
    tiers = [{"at": 0, "price_cents": 900}, {"at": 2, "price_cents": 800}, {"at": 3, "price_cents": 700}]
    await put_pin(store, room, id="p1", count="posters", tiers=tiers)
    start = await seq_of(store, room)
    await store.post_chat(room, BOB, "a", T0)
    await store.post_chat(room, BOB, "b", T0)  # the same poster: no count
    crossing = await store.post_chat(room, ANN, "c", T0)
    await store.post_chat(room, ANN, "d", T0)
    evs = await events_of(store, room, start)
    prices = [e for e in evs if e["t"] == "price"]
    assert prices == [
        {"seq": crossing + 1, "t": "price", "pin": "p1", "tier": 1, "price_cents": 800, "count": 2}
    ]
    await store.post_chat(room, who("cy"), "e", T0)
    assert [e["tier"] for e in await events_of(store, room, start) if e["t"] == "price"] == [1, 2]


async def test_the_countdown_counts(store: RoomStore) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1", starts_in_s=30, count="posts")
    await store.post_chat(room, BOB, "soon?", T0 + 1)
    figures = await store.tick_pin(room, T0 + 2)
    assert figures is not None and figures.state == "upcoming" and figures.count == 1


@pytest.mark.parametrize("ending", ["sold_out", "ended"])
async def test_sold_out_and_ended_pins_do_not_count(store: RoomStore, ending: str) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1", stock=1, count="posts")
    if ending == "sold_out":
        await store.buy(room, BOB, "p1", 1, "b1", T0)
    else:
        await store.end_pin(room, "p1", T0)
    start = await seq_of(store, room)
    for i in range(5):
        await store.post_chat(room, ANN, f"post {i}", T0 + 1)
    assert await kinds(store, room, start) == ["chat"] * 5  # no price event
    pin = orjson.loads((await store.snapshot(room, now=T0 + 2)).pin_json or "null")
    assert (pin["count"], pin["tier"]) == (0, 0)


# --- moderate.lua ---------------------------------------------------------------------------


async def test_each_action_and_its_event(store: RoomStore) -> None:
    room = await new_room(store)
    host = host_of(room)
    bob_line = await store.post_chat(room, BOB, "spam", T0)
    start = await seq_of(store, room)
    for action in (
        cmd("mute", "bob", 60),
        cmd("unmute", "bob"),
        cmd("ban", "bob"),
        cmd("unban", "bob"),
        cmd("slow", seconds=5),
        cmd("slow", seconds=0),
        cmd("delete", seq=bob_line),
    ):
        assert await store.moderate(room, action, host, now=T0) > 0
    evs = await events_of(store, room, start)
    assert [{k: v for k, v in e.items() if k != "seq"} for e in evs] == [
        {"t": "mod", "action": "mute", "user": "bob", "seconds": 60},
        {"t": "mod", "action": "unmute", "user": "bob"},
        {"t": "mod", "action": "ban", "user": "bob"},
        {"t": "mod", "action": "unban", "user": "bob"},
        {"t": "mod", "action": "slow", "seconds": 5},
        {"t": "mod", "action": "slow", "seconds": 0},
        {"t": "chat_deleted", "target": bob_line},
    ]
    snap = await store.snapshot(room, "bob", now=T0)
    assert snap.chat == [] and not snap.banned and snap.muted_until_ms == 0 and snap.meta["slow_s"] == "0"
    assert await store.moderate(room, cmd("delete", seq=bob_line), host, now=T0) == 0  # again: no-op


async def test_delete_needs_a_kept_chat_line(store: RoomStore) -> None:
    room = await new_room(store)
    with pytest.raises(NotFound):
        await store.moderate(room, cmd("delete", seq=999), host_of(room), now=T0)
    with pytest.raises(BadRequest):
        await store.moderate(room, cmd("delete", seq=1), host_of(room), now=T0)  # the "room" event
    with pytest.raises(NotFound):
        await store.moderate("nowhere", cmd("slow", seconds=1), host_of("nowhere"), now=T0)


@pytest.mark.parametrize(
    "action",
    [cmd("mute", "host", 60), cmd("ban", "host"), cmd("unmute", "host"), cmd("unban", "host"), "delete"],
)
async def test_a_mod_cannot_touch_the_host(store: RoomStore, action: ModerationCommand | str) -> None:
    room = await new_room(store)
    if action == "delete":
        action = cmd("delete", seq=await store.post_chat(room, host_of(room), "welcome", T0))
    assert isinstance(action, ModerationCommand)
    with pytest.raises(Forbidden) as info:
        await store.moderate(room, action, mod_of(room), now=T0)
    assert "host" in info.value.message
    snap = await store.snapshot(room, "host", now=T0)
    assert not snap.banned and snap.muted_until_ms == 0 and len(snap.chat) == (1 if action.seq else 0)


async def test_nobody_mutes_or_bans_the_host_but_the_host_may_lift_old_ones(store: RoomStore) -> None:
    room = await new_room(store)
    host = host_of(room)
    for action in (cmd("mute", "host", 60), cmd("ban", "host")):
        with pytest.raises(Forbidden):
            await store.moderate(room, action, host, now=T0)
    # A ban left by the old rules (a mod banned the host) is lifted by the host.
    await store.redis.sadd(store.keys(room).bans, "host")
    assert await store.moderate(room, cmd("unban", "host"), host, now=T0) > 0
    assert not (await store.snapshot(room, "host", now=T0)).banned


@pytest.mark.parametrize("learned", ["connect", "act"])
async def test_mods_do_not_act_on_mods_nor_themselves(store: RoomStore, learned: str) -> None:
    room = await new_room(store)
    mo, max_ = mod_of(room, "mo"), mod_of(room, "max")
    if learned == "connect":
        await store.snapshot(room, "max", now=T0, role="mod")
    else:
        await store.moderate(room, cmd("slow", seconds=0), max_, now=T0)
    for action in (cmd("mute", "max", 60), cmd("ban", "max"), cmd("unban", "max")):
        with pytest.raises(Forbidden) as other:
            await store.moderate(room, action, mo, now=T0)
        assert "other moderators" in other.value.message
    line = await store.post_chat(room, max_, "mod line", T0)
    with pytest.raises(Forbidden):
        await store.moderate(room, cmd("delete", seq=line), mo, now=T0)
    with pytest.raises(Forbidden) as itself:
        await store.moderate(room, cmd("unmute", "mo"), mo, now=T0)
    assert "themselves" in itself.value.message
    # A viewer's role claim means nothing: connecting as a viewer does not make one a mod.
    await store.snapshot(room, "bob", now=T0, role="viewer")
    assert await store.moderate(room, cmd("mute", "bob", 60), mo, now=T0) > 0


async def test_a_banned_or_muted_mod_has_no_powers_until_the_host_lifts_it(store: RoomStore) -> None:
    room = await new_room(store)
    host, mo = host_of(room), mod_of(room)
    await store.moderate(room, cmd("ban", "mo"), host, now=T0)
    for action in (cmd("unban", "mo"), cmd("ban", "bob"), cmd("slow", seconds=5)):
        with pytest.raises(Forbidden) as info:
            await store.moderate(room, action, mo, now=T0)
        assert "banned" in info.value.message
    await store.moderate(room, cmd("unban", "mo"), host, now=T0)
    await store.moderate(room, cmd("mute", "mo", 60), host, now=T0)
    with pytest.raises(Forbidden) as muted:
        await store.moderate(room, cmd("ban", "bob"), mo, now=T0 + 59_999)
    assert "muted" in muted.value.message
    assert await store.moderate(room, cmd("ban", "bob"), mo, now=T0 + 60_000) > 0  # the mute ran out


async def test_the_host_acts_on_mods(store: RoomStore) -> None:
    room = await new_room(store)
    await store.snapshot(room, "mo", now=T0, role="mod")
    line = await store.post_chat(room, mod_of(room), "oops", T0)
    for action in (cmd("mute", "mo", 60), cmd("unmute", "mo"), cmd("delete", seq=line)):
        assert await store.moderate(room, action, host_of(room), now=T0) > 0


# --- snapshot.lua and viewers_report.lua ----------------------------------------------------


async def test_snapshot_is_one_consistent_read(store: RoomStore) -> None:
    room = await new_room(store, title="Panda night")
    await store.moderate(room, cmd("mute", "bob", 60), host_of(room), now=T0)
    await put_pin(store, room, id="p1")
    await store.post_chat(room, ANN, "hi", T0)
    snap = await store.snapshot(room, "bob", now=T0 + 1)
    assert snap.seq == await seq_of(store, room) and snap.oldest_seq == 1
    assert snap.muted_until_ms == T0 + 60_000 and not snap.banned
    assert snap.room(room)["title"] == "Panda night" and snap.room(room)["status"] == "live"
    assert snap.pin_json is not None and orjson.loads(snap.pin_json)["id"] == "p1"
    assert [orjson.loads(c)["text"] for c in snap.chat] == ["hi"]
    assert (await store.snapshot(room, "ann", now=T0)).muted_until_ms == 0
    with pytest.raises(NotFound):
        await store.snapshot("nowhere")


async def test_viewer_reports_expire(store: RoomStore) -> None:
    room = await new_room(store)
    k = store.keys(room)

    async def report(node: str, count: int, now: int) -> list[int]:
        return [
            int(x)
            for x in await store.scripts.viewers_report(
                keys=[k.viewers, k.meta], args=[node, count, now, 5_000]
            )
        ]

    assert await report("a", 3, T0) == [3, 0]
    assert await report("b", 4, T0 + 1_000) == [7, 0]
    snap = await store.snapshot(room, now=T0 + 4_999)
    assert snap.viewers == 7
    assert (await store.snapshot(room, now=T0 + 5_000)).viewers == 4  # a's report expired
    assert await report("b", 4, T0 + 5_000) == [4, 0]
    assert await store.redis.hkeys(k.viewers) == ["b"]  # the expired report is gone
    assert await report("b", 0, T0 + 5_001) == [0, 0]  # a process with none reports zero
    assert (await store.stats(room))["peak_viewers"] == 7
