"""buy.lua, pin_create.lua, pin_tick.lua, pin_end.lua and the sale rules of _lib.lua, run by the
real Redis with an explicit ``now``: every branch, and the table of sale rules (tier in force,
next tier, state over time, refunds) that lives only in Lua."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from live.store import RoomStore
from rooms.errors import Conflict, Ended, LimitReached, NoSuchPin, NotFound, NotStarted, SoldOut
from tests.live.store_kit import T0, events_of, kinds, new_room, put_pin, seq_of, store, who

__all__ = ["store"]  # the fixture

BOB, ANN = who("bob"), who("ann")


async def buy(store: RoomStore, room: str, user: Any, qty: int = 1, rid: str = "b1", **kw: Any) -> Any:
    pin = kw.pop("pin", "p1")
    now = kw.pop("now", T0)
    return orjson.loads(await store.buy(room, user, pin, qty, rid, now, **kw))


async def post(store: RoomStore, room: str, user: Any, text: str, now: int = T0) -> int:
    return await store.post_chat(room, user, text, now)


# --- buy.lua ------------------------------------------------------------------------------


async def test_order_is_taken_at_the_tier_in_force_with_the_buyers_name(store: RoomStore) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1")
    order = await buy(store, room, who("bob", name='Bob "=1+1" \\ Ü'), qty=2)
    assert order["user"] == "bob" and order["name"] == 'Bob "=1+1" \\ Ü'
    assert (order["qty"], order["unit_price_cents"], order["total_cents"], order["tier"]) == (
        2,
        2500,
        5000,
        0,
    )
    assert order["pin"] == "p1" and order["ts_ms"] == T0
    await post(store, room, ANN, "one")
    await post(store, room, ANN, "two")  # posts mode: count 2 reaches tier 1
    later = await buy(store, room, ANN, rid="a1")
    assert (later["unit_price_cents"], later["tier"]) == (2000, 1)
    assert (await store.stats(room))["gmv_cents"] == 7000


async def test_a_name_given_explicitly_wins(store: RoomStore) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1")
    assert (await buy(store, room, BOB, name="Robert"))["name"] == "Robert"


async def test_same_request_id_is_replayed_not_taken_again(store: RoomStore) -> None:
    room = await new_room(store)
    await put_pin(
        store, room, id="p1", tiers=[{"at": 0, "price_cents": 2500}, {"at": 1, "price_cents": 2000}]
    )
    first = await buy(store, room, BOB, qty=2)
    assert await buy(store, room, BOB, qty=1, now=T0 + 5) == first  # the answer, not a new decision
    assert await buy(store, room, ANN) != first  # another user's request of the same id
    await post(store, room, ANN, "cheaper")
    await store.end_pin(room, "p1", T0 + 10)
    # After the pin ended (and even the room), the replay carries the refund owed.
    await store.set_status(room, "stop", T0 + 20)
    again = await buy(store, room, BOB, qty=2, now=T0 + 30)
    assert again == {**first, "refund_cents": 1000, "version": 2}  # the refund is a change
    assert (await store.stats(room))["orders"] == 2


async def test_no_such_pin_and_an_archived_pin_is_ended(store: RoomStore) -> None:
    room = await new_room(store)
    with pytest.raises(NoSuchPin):
        await buy(store, room, BOB)
    await put_pin(store, room, id="p1")
    await put_pin(store, room, id="p2")  # p1 is archived
    with pytest.raises(Ended):
        await buy(store, room, BOB, pin="p1")
    with pytest.raises(NoSuchPin):
        await buy(store, room, BOB, pin="p9")


async def test_not_started_says_when(store: RoomStore) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1", starts_in_s=10)
    with pytest.raises(NotStarted) as info:
        await buy(store, room, BOB, now=T0 + 2_500)
    assert info.value.retry_after_ms == 7_500
    assert (await buy(store, room, BOB, now=T0 + 10_000))["qty"] == 1  # on the dot


async def test_ended_by_time_even_before_any_tick(store: RoomStore) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1", duration_s=60)
    assert (await buy(store, room, BOB, now=T0 + 59_999))["qty"] == 1
    with pytest.raises(Ended):
        await buy(store, room, ANN, now=T0 + 60_000)


async def test_limit_and_stock(store: RoomStore) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1", stock=4, limit_per_user=3)
    await buy(store, room, BOB, qty=2)
    with pytest.raises(LimitReached) as limit:
        await buy(store, room, BOB, qty=2, rid="b2")
    assert "at most 3" in limit.value.message
    await buy(store, room, ANN, qty=1)
    with pytest.raises(SoldOut) as short:
        await buy(store, room, who("cy"), qty=2)  # 1 left: qty > left
    assert "only 1 left" in short.value.message
    before = await seq_of(store, room)
    await buy(store, room, who("cy"), qty=1, rid="c2")  # the last unit
    assert await kinds(store, room, before) == ["sold_out"]
    with pytest.raises(SoldOut):
        await buy(store, room, who("dee"))
    figures = await store.tick_pin(room, T0 + 1)
    assert figures is not None and figures.state == "sold_out" and figures.stock_left == 0


async def test_buying_in_an_ended_room_is_ended(store: RoomStore) -> None:
    room = await new_room(store, "ended")
    with pytest.raises(Ended):
        await buy(store, room, BOB)


# --- pin_create.lua -------------------------------------------------------------------------


async def test_a_new_pin_ends_the_one_before(store: RoomStore) -> None:
    room = await new_room(store)
    first = await put_pin(store, room, id="p1")
    assert (first["state"], first["stock_left"], first["price_cents"], first["tier"]) == ("live", 10, 2500, 0)
    await buy(store, room, BOB)
    before = await seq_of(store, room)
    second = await put_pin(store, room, now=T0 + 5, id="p2", starts_in_s=30)
    assert second["state"] == "upcoming" and second["starts_at_ms"] == T0 + 30_005
    evs = await events_of(store, room, before)
    assert [e["t"] for e in evs] == ["pin_end", "pin"]
    assert evs[0] == {"seq": before + 1, "t": "pin_end", "pin": "p1", "sold": 1, "final_price_cents": 2500}
    assert evs[1]["pin"] == second
    # The old pin's buyers and limits do not carry over.
    assert (await buy(store, room, BOB, pin="p2", rid="b2", qty=3, now=T0 + 30_005))["qty"] == 3


@pytest.mark.parametrize("reuse", ["p1", "p2"])
async def test_pin_ids_are_never_reused(store: RoomStore, reuse: str) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1")
    await put_pin(store, room, id="p2")
    with pytest.raises(Conflict):
        await put_pin(store, room, id=reuse)


async def test_no_pin_in_an_ended_or_missing_room(store: RoomStore) -> None:
    with pytest.raises(Conflict):
        await put_pin(store, await new_room(store, "ended"), id="p1")
    with pytest.raises(NotFound):
        await put_pin(store, "nowhere", id="p1")


# --- pin_tick.lua and pin_end.lua -----------------------------------------------------------


async def test_time_moves_the_pin_on_exactly_once(store: RoomStore) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1", starts_in_s=10, duration_s=20)
    start = await seq_of(store, room)
    early = await store.tick_pin(room, T0 + 9_999)
    assert early is not None and early.state == "upcoming" and early.deadline_ms == T0 + 10_000
    for now in (T0 + 10_000, T0 + 10_001):
        live = await store.tick_pin(room, now)
        assert live is not None and live.state == "live" and live.deadline_ms == T0 + 30_000
    evs = await events_of(store, room, start)
    assert [(e["t"], e["pin"]["state"]) for e in evs] == [("pin", "live")]
    for now in (T0 + 30_000, T0 + 30_001):
        ended = await store.tick_pin(room, now)
        assert ended is not None and ended.state == "ended" and ended.deadline_ms is None
    assert await kinds(store, room, start) == ["pin", "pin_end"]
    snap = await store.snapshot(room, now=T0 + 40_000)
    assert snap.pin_json is not None and orjson.loads(snap.pin_json)["state"] == "ended"


async def test_tick_without_a_pin(store: RoomStore) -> None:
    assert await store.tick_pin(await new_room(store), T0) is None


async def test_ending_twice_is_one_pin_end(store: RoomStore) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1")
    start = await seq_of(store, room)
    first = orjson.loads(await store.end_pin(room, "p1", T0 + 1))
    again = orjson.loads(await store.end_pin(room, "p1", T0 + 2))
    assert first == again and first["state"] == "ended"
    await store.tick_pin(room, T0 + 100_000)
    assert await kinds(store, room, start) == ["pin_end"]
    with pytest.raises(NoSuchPin):
        await store.end_pin(room, "nope", T0)


# --- ending the show ends its sale (room_status.lua) ----------------------------------------


async def test_stopping_the_room_ends_its_pin_atomically(store: RoomStore) -> None:
    room = await new_room(store)
    tiers = [{"at": 0, "price_cents": 2500}, {"at": 1, "price_cents": 2000}]
    await put_pin(store, room, id="p1", tiers=tiers)
    order = await buy(store, room, BOB, qty=2)
    await post(store, room, ANN, "lower!")
    timers = f"{store.settings.key_prefix}pin_timers"
    assert await store.redis.zscore(timers, room) is not None
    start = await seq_of(store, room)
    assert await store.set_status(room, "stop", T0 + 1_000) == "ended"
    evs = await events_of(store, room, start)
    assert [e["t"] for e in evs] == ["pin_end", "room"]
    assert evs[0]["pin"] == "p1" and evs[0]["sold"] == 2 and evs[0]["final_price_cents"] == 2000
    assert evs[1]["status"] == "ended"
    orders = await store.orders(room)
    assert [(o["id"], o["refund_cents"]) for o in orders] == [(order["id"], 1000)]
    assert await store.redis.zscore(timers, room) is None  # time has nothing left to do here
    snap = await store.snapshot(room, now=T0 + 1_001)
    assert snap.pin_json is not None and orjson.loads(snap.pin_json)["state"] == "ended"
    with pytest.raises(Ended):
        await buy(store, room, ANN, rid="late", now=T0 + 1_002)
    # Stopping again is a no-op: no second pin_end.
    await store.set_status(room, "stop", T0 + 2_000)
    assert await kinds(store, room, start) == ["pin_end", "room"]


async def test_stopping_a_room_without_a_pin(store: RoomStore) -> None:
    room = await new_room(store)
    start = await seq_of(store, room)
    await store.set_status(room, "stop", T0)
    assert await kinds(store, room, start) == ["room"]


# --- one table for the sale rules that exist only in Lua -------------------------------------

TIERS = [{"at": 0, "price_cents": 2500}, {"at": 2, "price_cents": 2000}, {"at": 5, "price_cents": 1500}]


@pytest.mark.parametrize(
    ("count", "tier", "price_cents", "next_at"),
    [
        (0, 0, 2500, 2),
        (1, 0, 2500, 2),
        (2, 1, 2000, 5),
        (4, 1, 2000, 5),
        (5, 2, 1500, None),
        (7, 2, 1500, None),
    ],
)
async def test_tier_in_force_and_next_at(
    store: RoomStore, count: int, tier: int, price_cents: int, next_at: int | None
) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1", tiers=TIERS, count="posts")
    for i in range(count):
        await post(store, room, ANN, f"post {i}")
    figures = await store.tick_pin(room, T0 + 1)
    assert figures is not None and (figures.count, figures.next_at) == (count, next_at)
    pin = orjson.loads((await store.snapshot(room, now=T0 + 1)).pin_json or "null")
    assert (pin["tier"], pin["price_cents"], pin["count"]) == (tier, price_cents, count)


@pytest.mark.parametrize(
    ("history", "at_ms", "state"),
    [
        ("upcoming", 9_999, "upcoming"),
        ("upcoming", 10_000, "live"),
        ("upcoming", 39_999, "live"),
        ("upcoming", 40_000, "ended"),
        ("sold_out", 20_000, "sold_out"),
        ("sold_out", 40_000, "ended"),
        ("deleted", 20_000, "ended"),
    ],
)
async def test_sale_state_at_a_time(store: RoomStore, history: str, at_ms: int, state: str) -> None:
    """starts_in_s 10, duration_s 30: the window is [T0+10 s, T0+40 s)."""
    room = await new_room(store)
    await put_pin(store, room, id="p1", starts_in_s=10, duration_s=30, stock=1)
    if history == "sold_out":
        await buy(store, room, BOB, now=T0 + 10_000)
    elif history == "deleted":
        await store.end_pin(room, "p1", T0 + 15_000)
    pin = orjson.loads((await store.snapshot(room, now=T0 + at_ms)).pin_json or "null")
    assert pin["state"] == state


@pytest.mark.parametrize(
    ("bought_at_tier", "qty", "final_tier", "protection", "refund_cents"),
    [
        (0, 2, 2, True, 2000),
        (1, 1, 2, True, 500),
        (2, 3, 2, True, 0),
        (0, 1, 1, True, 500),
        (0, 2, 2, False, 0),
    ],
)
async def test_price_protection_refunds(
    store: RoomStore, bought_at_tier: int, qty: int, final_tier: int, protection: bool, refund_cents: int
) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1", tiers=TIERS, count="posts", price_protection=protection)
    posts = 0
    for target, tier in ((bought_at_tier, "buy"), (final_tier, "end")):
        while posts < TIERS[target]["at"]:
            await post(store, room, ANN, f"post {posts}")
            posts += 1
        if tier == "buy":
            order = await buy(store, room, BOB, qty=qty)
            assert order["unit_price_cents"] == TIERS[bought_at_tier]["price_cents"]
    await store.tick_pin(room, T0 + 60_000)  # ended by time
    [listed] = await store.orders(room)
    assert listed["refund_cents"] == refund_cents
    assert (await store.stats(room))["refund_cents"] == refund_cents
