"""Drops in Lua (drop_create, grab, wallet_credit, and the coupon rules of _lib.lua in the buy
scripts), run by the real Redis with an explicit ``now``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from live.drops import DropStore
from live.keys import host_followers, user_wallet
from live.sales import SaleStore
from live.scripts import check
from live.store import RoomStore
from rooms.drops import DropSpec, lucky_cut, parse_drop
from rooms.errors import Conflict, CouponInvalid, Ended, Gone, LimitReached, NoSuchDrop, NotLive, TaskRequired
from rooms.room import RoomSettings
from tests.live.store_kit import T0, events_of, host_of, new_room, put_pin, who
from tests.live.test_scripts_orders import SHOP, bag_buy, outbox, product, sales, settle, store

__all__ = ["sales", "store"]  # the fixtures: a store with webhooks on, and its SaleStore

BOB, ANN, SUE = who("bob"), who("ann"), who("sue")
ENVELOPE = {"kind": "envelope", "count": 3, "total_cents": 100, "duration_s": 30}
COUPON = {
    "kind": "coupon",
    "count": 5,
    "value_cents": 500,
    "min_spend_cents": 3000,
    "valid_s": 600,
    "duration_s": 30,
}


@pytest.fixture
def drops(store: RoomStore) -> DropStore:
    return DropStore(store)


def spec(**body: Any) -> DropSpec:
    return parse_drop(body)


async def start(drops: DropStore, room: str, now: int = T0, **body: Any) -> dict[str, Any]:
    return dict(orjson.loads(await drops.create(room, spec(**body), now)))


async def grab(
    drops: DropStore, room: str, user: Any, drop: dict[str, Any], rid: str = "g1", now: int = T0
) -> Any:
    got = await drops.grab(room, user, drop["id"], rid, now)
    return orjson.loads("{" + got.part + "}")


async def drop_ends(store: RoomStore, room: str) -> list[dict[str, Any]]:
    return [e for e in await events_of(store, room) if e["t"] == "drop_end"]


async def test_a_drop_needs_a_live_show_and_one_runs_at_a_time(store: RoomStore, drops: DropStore) -> None:
    with pytest.raises(NotLive):
        await start(drops, await new_room(store, status="scheduled"), **ENVELOPE)
    room = await new_room(store)
    first = await start(drops, room, **ENVELOPE)
    assert first["state"] == "live" and first["left"] == 3 and first["left_cents"] == 100
    assert first["ends_at_ms"] == T0 + 30_000 and first["task"] == "none" and first["claimed"] == 0
    with pytest.raises(Conflict):
        await start(drops, room, now=T0 + 29_999, **COUPON)
    second = await start(drops, room, now=T0 + 30_000, **COUPON)  # the first one's window closed
    assert second["kind"] == "coupon" and second["value_cents"] == 500 and second["valid_s"] == 600
    assert [(e["drop"], e["claimed"]) for e in await drop_ends(store, room)] == [(first["id"], 0)]
    events = [e for e in await events_of(store, room) if e["t"] == "drop"]
    assert [e["drop"] for e in events] == [first, second]  # the event carries the 201's object
    current_drop, current_auction = await store.current(room, T0 + 30_000)
    assert current_auction is None and orjson.loads(current_drop or "{}") == second  # current.lua
    assert current_drop == (await store.snapshot(room, now=T0 + 30_000)).drop_json  # hello's object
    listed = await drops.drops(room)
    assert [d["id"] for d in listed] == [second["id"], first["id"]] and listed[1]["state"] == "ended"


async def test_envelopes_are_each_at_least_a_cent_and_add_up_to_the_total(
    store: RoomStore, drops: DropStore
) -> None:
    room = await new_room(store)
    drop = await start(drops, room, count=50, total_cents=60, kind="envelope", duration_s=30)
    users = [who(f"u{i}") for i in range(51)]
    got = [await grab(drops, room, u, drop) for u in users[:50]]
    cents = [g["envelope"]["cents"] for g in got]
    assert min(cents) >= 1 and sum(cents) == 60
    with pytest.raises(Gone):
        await grab(drops, room, users[50], drop)
    ends = await drop_ends(store, room)
    assert [(e["drop"], e["claimed"]) for e in ends] == [(drop["id"], 50)]  # once, by the last grab
    after = orjson.loads(await drops.drop_json(room, drop["id"]))
    assert after["state"] == "ended" and after["left"] == 0 and after["left_cents"] == 0
    page = await drops.grabs(room, drop["id"])
    assert [g["user"]["id"] for g in page.grabs] == [u.id for u in users[:50]] and page.next is None
    assert [g["cents"] for g in page.grabs] == cents and [g["n"] for g in page.grabs] == list(range(1, 51))
    hooks = [e for e in await outbox(store, room) if e["type"] == "drop.ended"]
    assert [h["data"]["drop"]["claimed"] for h in hooks] == [50]


async def test_the_script_cuts_each_envelope_as_lucky_cut_does_with_the_draw_of_its_grab(
    store: RoomStore, drops: DropStore
) -> None:
    room = await new_room(store)
    drop = await start(drops, room, count=6, total_cents=1_000, kind="envelope", duration_s=30)
    draws = [987_654_321, 0, 12_345, 2**31 - 1, 77, 5]
    left_cents, expected = 1_000, []
    for left_count, draw in zip(range(6, 0, -1), draws, strict=True):
        expected.append(lucky_cut(left_cents, left_count, draw))
        left_cents -= expected[-1]
    got = []
    for i, draw in enumerate(draws):
        keys, args = drops.grab_call(room, f"u{i}", drop["id"], "g1", T0, follows="0")
        args[9] = draw
        got.append(int(check(await drops._grab(keys=keys, args=args))[3]))
    assert got == expected and sum(got) == 1_000


def test_lucky_cut_leaves_a_cent_for_every_envelope_to_come_and_the_last_takes_the_rest() -> None:
    for left_cents, left_count in ((10, 10), (11, 10), (1_000, 3), (7, 2), (100, 1)):
        for draw in (0, 1, 2**31 - 1, 12_345):
            cut = lucky_cut(left_cents, left_count, draw)
            assert 1 <= cut <= left_cents - (left_count - 1)
            assert left_count > 1 or cut == left_cents
            assert left_count == 1 or cut <= max(1, 2 * left_cents // left_count)


async def test_the_same_request_id_gets_the_same_answer_and_a_second_grab_is_refused(
    store: RoomStore, drops: DropStore
) -> None:
    room = await new_room(store)
    drop = await start(drops, room, **ENVELOPE)
    first = await drops.grab(room, BOB, drop["id"], "g1", T0)
    again = await drops.grab(room, BOB, drop["id"], "g1", T0 + 5)
    assert again.part == first.part and again.replayed and not first.replayed
    with pytest.raises(LimitReached):
        await drops.grab(room, BOB, drop["id"], "g2", T0)
    wallet = await drops.wallet(BOB.id)
    assert wallet["cents"] == first.cents and len(wallet["entries"]) == 1  # credited once


async def test_a_grab_past_the_window_ends_the_drop_once_and_time_ends_it_too(
    store: RoomStore, drops: DropStore
) -> None:
    room = await new_room(store)
    drop = await start(drops, room, **ENVELOPE)
    await grab(drops, room, ANN, drop, now=T0 + 29_999)
    with pytest.raises(Ended):
        await grab(drops, room, BOB, drop, now=T0 + 30_000)
    tick = await store.tick_room(room, T0 + 31_000)
    assert tick.drop is None and tick.deadline_ms is None  # nothing left for time to do
    assert [(e["drop"], e["claimed"]) for e in await drop_ends(store, room)] == [(drop["id"], 1)]

    other = await new_room(store)
    timed = await start(drops, other, **ENVELOPE)
    running = await store.tick_room(other, T0 + 10)
    assert running.drop is not None and running.drop.left == 3 and running.deadline_ms == T0 + 30_000
    ended = await store.tick_room(other, T0 + 30_000)
    assert ended.drop is not None and not ended.drop.running
    await store.tick_room(other, T0 + 30_001)
    assert [(e["drop"], e["claimed"]) for e in await drop_ends(store, other)] == [(timed["id"], 0)]


async def test_the_pin_and_the_drop_share_the_rooms_deadline(store: RoomStore, drops: DropStore) -> None:
    room = await new_room(store)
    await put_pin(store, room)  # ends at T0 + 60 s
    await start(drops, room, **ENVELOPE)  # ends at T0 + 30 s
    assert (await store.tick_room(room, T0 + 1)).deadline_ms == T0 + 30_000
    assert (await store.tick_room(room, T0 + 30_000)).deadline_ms == T0 + 60_000


async def test_tasks_follow_and_chat_are_enforced(store: RoomStore, drops: DropStore) -> None:
    room = await new_room(store)
    drop = await start(drops, room, **{**ENVELOPE, "task": "follow"})
    with pytest.raises(TaskRequired, match="follow the host"):
        await grab(drops, room, BOB, drop)
    await store.redis.zadd(host_followers(store.settings.key_prefix, host_of(room).id), {BOB.id: 0})
    assert (await grab(drops, room, BOB, drop))["envelope"]["cents"] >= 1

    chat_room = await new_room(store)
    chat_drop = await start(drops, chat_room, **{**COUPON, "task": "chat"})
    with pytest.raises(TaskRequired, match="post in the chat"):
        await grab(drops, chat_room, ANN, chat_drop)
    await store.post_chat(chat_room, ANN, "hello", T0)
    assert (await grab(drops, chat_room, ANN, chat_drop))["coupon"]["value_cents"] == 500


async def test_unknown_drops_and_drops_that_ended_are_told_apart(store: RoomStore, drops: DropStore) -> None:
    room = await new_room(store)
    with pytest.raises(NoSuchDrop):
        await drops.grab(room, BOB, "d-00000000", "g1", T0)
    one = await start(drops, room, **{**ENVELOPE, "count": 1})
    await grab(drops, room, BOB, one)  # all taken
    two = await start(drops, room, now=T0 + 1, **ENVELOPE)
    await store.tick_room(room, T0 + 40_000)  # two ends by time, one of three taken
    with pytest.raises(LimitReached):
        await grab(drops, room, BOB, one, rid="g9", now=T0 + 40_000)
    with pytest.raises(Gone):
        await grab(drops, room, ANN, one, now=T0 + 40_000)
    with pytest.raises(Ended):
        await grab(drops, room, ANN, two, now=T0 + 40_000)


async def test_stopping_the_show_ends_its_drop(store: RoomStore, drops: DropStore) -> None:
    room = await new_room(store)
    drop = await start(drops, room, **ENVELOPE)
    await store.set_status(room, "stop", T0 + 5)
    assert [(e["drop"], e["claimed"]) for e in await drop_ends(store, room)] == [(drop["id"], 0)]
    with pytest.raises(Ended):
        await grab(drops, room, BOB, drop, now=T0 + 6)


async def test_a_credit_is_made_once_and_tells_the_users_devices(store: RoomStore, drops: DropStore) -> None:
    channel = f"{store.settings.key_prefix}me:{BOB.id}"
    pubsub = store.redis.pubsub()
    await pubsub.subscribe(channel)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    assert await drops.credit(BOB.id, "r1", "d-00000001", 7, T0) == 7
    assert await drops.credit(BOB.id, "r1", "d-00000001", 7, T0) == 7  # a repeat changes nothing
    assert await drops.credit(BOB.id, "r2", "d-00000001", 5, T0 + 1) == 12
    told = []
    while (message := await pubsub.get_message(timeout=1)) is not None:
        told.append(orjson.loads(message["data"]))
    await pubsub.aclose()
    assert told == [{"t": "wallet", "cents": 7}, {"t": "wallet", "cents": 12}]


async def test_reading_the_wallet_repairs_a_grab_whose_credit_a_crash_cut_off(
    store: RoomStore, drops: DropStore
) -> None:
    room = await new_room(store)
    drop = await start(drops, room, **ENVELOPE)
    # The grab as the store sends it, with the process dying before the credit.
    keys, args = drops.grab_call(room, SUE.id, drop["id"], "g1", T0, follows="0", name="Sue")
    index = f"{store.settings.key_prefix}{{user:{SUE.id}}}:grabs"
    await store.redis.zadd(index, {f"{room}\t{drop['id']}": T0})
    cents = int(check(await drops._grab(keys=keys, args=args))[3])
    assert not await store.redis.exists(user_wallet(store.settings.key_prefix, SUE.id))
    wallet = await drops.wallet(SUE.id)
    assert wallet == {
        "cents": cents,
        "entries": [{"room": room, "drop": drop["id"], "cents": cents, "ts_ms": T0}],
    }
    assert (await drops.wallet(SUE.id))["cents"] == cents  # repaired once


async def test_a_coupon_takes_its_value_off_an_order_above_its_minimum(
    store: RoomStore, sales: SaleStore, drops: DropStore
) -> None:
    room = await new_room(store)
    await product(sales, room, limit_per_user=5)  # 3000 cents each
    drop = await start(drops, room, **{**COUPON, "min_spend_cents": 6000})
    coupon = (await grab(drops, room, BOB, drop))["coupon"]
    assert coupon["id"] == f"{drop['id']}-1" and coupon["expires_at_ms"] == T0 + 600_000
    with pytest.raises(CouponInvalid, match="at least 6000"):
        await bag_buy(store, room, BOB, 1, coupon=coupon["id"])
    assert (await store.stats(room))["orders"] == 0  # refused: no order, no units
    with pytest.raises(CouponInvalid):
        await bag_buy(store, room, ANN, 2, coupon=coupon["id"])  # not Ann's
    order = await bag_buy(store, room, BOB, 2, rid="b2", coupon=coupon["id"])
    assert order["coupon"] == coupon["id"] and order["discount_cents"] == 500
    assert order["total_cents"] == 5500 and order["unit_price_cents"] == 3000
    assert (await store.stats(room))["gmv_cents"] == 5500
    with pytest.raises(CouponInvalid, match="already used"):
        await bag_buy(store, room, BOB, 2, rid="b3", coupon=coupon["id"])
    (mine,) = await drops.coupons(BOB.id, T0)
    assert mine["state"] == "used" and mine["order"] == order["id"] and mine["room"] == room


async def test_a_coupon_comes_back_when_its_order_expires_or_is_cancelled_and_not_after_it_expires(
    store: RoomStore, sales: SaleStore, drops: DropStore
) -> None:
    room = await new_room(store)
    await store.put_settings(room, RoomSettings(pay_within_s=60), host_of(room))
    await product(sales, room)
    drop = await start(drops, room, **{**COUPON, "min_spend_cents": 0, "value_cents": 9_000})
    coupon = (await grab(drops, room, BOB, drop))["coupon"]
    first = await bag_buy(store, room, BOB, 1, coupon=coupon["id"])
    assert first["total_cents"] == 0 and first["discount_cents"] == 3000  # never below 0
    assert await sales.expire_due(room, T0 + 60_000) == 1
    assert [c["state"] for c in await drops.coupons(BOB.id, T0 + 60_000)] == ["unused"]
    second = await bag_buy(store, room, BOB, 1, rid="b2", coupon=coupon["id"], now=T0 + 60_000)
    await settle(sales, room, second, "cancel", SHOP, T0 + 61_000)
    third = await bag_buy(store, room, BOB, 1, rid="b3", coupon=coupon["id"], now=T0 + 62_000)
    assert third["coupon"] == coupon["id"]
    await settle(sales, room, third, "cancel", SHOP, T0 + 63_000)
    with pytest.raises(CouponInvalid, match="expired"):
        await bag_buy(store, room, BOB, 1, rid="b4", coupon=coupon["id"], now=T0 + 600_000)
    assert [c["state"] for c in await drops.coupons(BOB.id, T0 + 600_000)] == ["expired"]


async def test_price_protection_never_refunds_more_than_the_order_paid(
    store: RoomStore, drops: DropStore
) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1")  # 2500 now, 1500 at 4 posts
    drop = await start(drops, room, **{**COUPON, "min_spend_cents": 0, "value_cents": 2_400})
    coupon = (await grab(drops, room, BOB, drop))["coupon"]
    order = orjson.loads(await store.buy(room, BOB, "p1", 1, "b1", T0, coupon=coupon["id"]))
    assert order["total_cents"] == 100
    for i in range(4):
        await store.post_chat(room, who(f"c{i}"), f"line {i}", T0)
    await store.end_pin(room, "p1", T0 + 1)
    (stored,) = await store.orders(room)
    assert stored["refund_cents"] == 100  # 2500 - 1500 would be 1000: more than the 100 paid
