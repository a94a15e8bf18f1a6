"""The bag and the order lifecycle in Lua (bag_buy, order_settle, orders_expire, product_put,
product_delete, and the release rules of _lib.lua), run by the real Redis with an explicit ``now``."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from live.sales import SaleStore
from live.store import RoomStore
from rooms.errors import Conflict, Forbidden, LimitReached, NoSuchProduct, NotFound, NotLive, SoldOut
from rooms.products import parse_product_put
from tests.live.store_kit import T0, close_store, events_of, host_of, new_room, open_store, put_pin, who

BOB, ANN = who("bob"), who("ann")
SHOP = who("shop", "service")
MUG = {"title": "Panda mug", "list_price_cents": 3000, "stock": 10, "limit_per_user": 3}


@pytest.fixture
async def store(redis_url: str) -> Any:
    st = await open_store(redis_url, webhook_url="http://127.0.0.1:9/hooks", webhook_secret="s")
    yield st
    await close_store(st)


@pytest.fixture
def sales(store: RoomStore) -> SaleStore:
    return SaleStore(store)


async def paying_room(store: RoomStore, pay_within_s: int = 60) -> str:
    room = await new_room(store)
    await store.put_room(room, "Show", host_of(room), pay_within_s)
    return room


async def product(
    sales: SaleStore, room: str, pid: str = "mug", now: int = T0, **changes: Any
) -> dict[str, Any]:
    _created, body = await sales.put_product(room, parse_product_put(pid, {**MUG, **changes}), now)
    return dict(orjson.loads(body))


async def bag_buy(store: RoomStore, room: str, user: Any, qty: int = 1, rid: str = "b1", **kw: Any) -> Any:
    pid = kw.pop("product", "mug")
    now = kw.pop("now", T0)
    return orjson.loads(await store.buy(room, user, None, qty, rid, now, product=pid, **kw))


async def pin_buy(
    store: RoomStore, room: str, user: Any, qty: int = 1, rid: str = "b1", now: int = T0
) -> Any:
    return orjson.loads(await store.buy(room, user, "p1", qty, rid, now))


async def settle(
    sales: SaleStore, room: str, order: dict[str, Any], action: str, actor: Any = SHOP, now: int = T0
) -> Any:
    return orjson.loads(await sales.settle(room, order["id"], action, actor, now))


async def bag(sales: SaleStore, room: str) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in orjson.loads(await sales.bag(room, T0))}


async def outbox(store: RoomStore, room: str) -> list[dict[str, Any]]:
    raw = await store.redis.hgetall(store.keys(room).hooks)
    return sorted((orjson.loads(v) for v in raw.values()), key=lambda e: int(e["id"].rsplit("_", 1)[1]))


# --- the bag -------------------------------------------------------------------------------


async def test_products_are_listed_in_the_order_added_and_changes_are_events(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await new_room(store)
    first = await product(sales, room, "mug")
    await product(sales, room, "cap", title="Cap", stock=2)
    assert first == {
        "id": "mug",
        "title": "Panda mug",
        "list_price_cents": 3000,
        "limit_per_user": 3,
        "stock_total": 10,
        "stock_left": 10,
    }
    assert list(await bag(sales, room)) == ["mug", "cap"]
    changed = await product(sales, room, "mug", title="Panda mug II", stock=12)
    assert changed["stock_left"] == 12 and list(await bag(sales, room)) == ["mug", "cap"]
    await sales.delete_product(room, "cap", T0)
    assert list(await bag(sales, room)) == ["mug"]
    evs = [e for e in await events_of(store, room) if e["t"] == "product"]
    assert [e["product"]["id"] for e in evs] == ["mug", "cap", "mug", "cap"]
    assert evs[-1] == {"seq": evs[-1]["seq"], "t": "product", "product": {"id": "cap"}, "removed": True}
    assert orjson.loads((await store.snapshot(room, now=T0)).public_json(room))["bag"] == [changed]


async def test_bag_buy_sells_at_list_price_within_the_limit_and_stock(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await new_room(store)
    await product(sales, room, stock=4)
    order = await bag_buy(store, room, BOB, qty=2)
    assert (
        order["product"],
        order["pin"],
        order["unit_price_cents"],
        order["total_cents"],
        order["tier"],
    ) == (
        "mug",
        None,
        3000,
        6000,
        None,
    )
    assert (order["state"], order["pay_by_ms"], order["version"]) == ("confirmed", None, 1)
    assert order["title"] == "Panda mug"
    with pytest.raises(LimitReached):
        await bag_buy(store, room, BOB, qty=2, rid="b2")
    with pytest.raises(SoldOut):
        await bag_buy(store, room, ANN, qty=3, rid="a1")
    await bag_buy(store, room, ANN, qty=2, rid="a1")
    with pytest.raises(SoldOut):
        await bag_buy(store, room, who("cy"), rid="c1")
    with pytest.raises(NoSuchProduct):
        await bag_buy(store, room, BOB, product="nope", rid="b3")
    assert (await bag(sales, room))["mug"]["stock_left"] == 0
    assert await bag_buy(store, room, BOB, qty=2) == order  # the same request id: the same answer


async def test_bag_sells_once_the_show_started_and_on_in_its_replay(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await new_room(store, status="scheduled")
    await product(sales, room)
    with pytest.raises(NotLive):
        await bag_buy(store, room, BOB)
    await store.set_status(room, "start", T0)
    await bag_buy(store, room, BOB)
    await store.set_status(room, "stop", T0)
    await bag_buy(store, room, BOB, rid="b2")  # the replay sells the bag (contract §12)


async def test_stock_cannot_go_below_the_units_out_and_a_product_in_use_stays(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await paying_room(store)
    await product(sales, room, stock=10)
    reserved = await bag_buy(store, room, BOB, qty=3)
    with pytest.raises(Conflict):
        await product(sales, room, stock=2)
    assert (await product(sales, room, stock=3))["stock_left"] == 0
    with pytest.raises(Conflict, match="wait for payment"):
        await sales.delete_product(room, "mug", T0)
    await settle(sales, room, reserved, "confirm")
    await sales.delete_product(room, "mug", T0)
    with pytest.raises(NotFound):
        await sales.delete_product(room, "mug", T0)


async def test_a_pin_from_the_bag_takes_its_stock_and_gives_back_what_is_unsold(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await new_room(store)
    await product(sales, room, stock=10)
    with pytest.raises(Conflict, match="only 10"):
        await put_pin(store, room, id="p1", product=None, product_id="mug", stock=11)
    pin = await put_pin(store, room, id="p1", product=None, product_id="mug", stock=6)
    assert pin["product"] == {"id": "mug", "title": "Panda mug", "list_price_cents": 3000}
    assert (await bag(sales, room))["mug"]["stock_left"] == 4
    with pytest.raises(Conflict, match="pinned"):
        await sales.delete_product(room, "mug", T0)
    order = await pin_buy(store, room, BOB, qty=2)
    assert order["product"] == "mug" and order["pin"] == "p1" and order["title"] == "Panda mug"
    # A new pin of the same product may count on what the running one has not sold.
    await put_pin(store, room, id="p2", product=None, product_id="mug", stock=8)
    assert (await bag(sales, room))["mug"]["stock_left"] == 0
    await store.end_pin(room, "p2", T0 + 1)
    assert (await bag(sales, room))["mug"]["stock_left"] == 8  # 10 - 2 sold by p1


# --- orders that wait for payment -----------------------------------------------------------


async def test_a_reserved_order_is_confirmed_once_and_answers_the_same_again(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await paying_room(store, 60)
    await product(sales, room)
    order = await bag_buy(store, room, BOB)
    assert (order["state"], order["pay_by_ms"], order["version"]) == ("reserved", T0 + 60_000, 1)
    confirmed = await settle(sales, room, order, "confirm", now=T0 + 1)
    assert (confirmed["state"], confirmed["version"], confirmed["refund_cents"]) == ("confirmed", 2, 0)
    assert await settle(sales, room, order, "confirm", now=T0 + 2) == confirmed
    with pytest.raises(Conflict, match="confirmed"):
        await settle(sales, room, order, "cancel", now=T0 + 3)
    with pytest.raises(Conflict, match="confirmed"):
        await settle(sales, room, order, "cancel", BOB, now=T0 + 3)
    stats = await store.stats(room)
    assert stats["orders_by_state"] == {"reserved": 0, "confirmed": 1, "cancelled": 0, "expired": 0}


async def test_cancel_gives_units_back_once_and_only_the_buyer_the_host_or_the_shop_may(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await paying_room(store)
    await product(sales, room, stock=2)
    order = await bag_buy(store, room, BOB, qty=2)
    with pytest.raises(Forbidden):
        await settle(sales, room, order, "cancel", ANN)
    with pytest.raises(Forbidden):
        await settle(sales, room, order, "confirm", BOB)  # order_settle: a buyer only cancels
    cancelled = await settle(sales, room, order, "cancel", BOB)
    assert (cancelled["state"], cancelled["version"]) == ("cancelled", 2)
    assert await settle(sales, room, order, "cancel", host_of(room)) == cancelled
    assert (await bag(sales, room))["mug"]["stock_left"] == 2  # back once, not twice
    with pytest.raises(Conflict, match="cancelled"):
        await settle(sales, room, order, "confirm")
    # The held units no longer count toward the limit.
    await bag_buy(store, room, BOB, qty=2, rid="b2")


async def test_an_unpaid_order_expires_once_at_pay_by_whoever_notices(
    store: RoomStore, sales: SaleStore, redis_url: str
) -> None:
    room = await paying_room(store, 10)
    await product(sales, room, stock=1)
    order = await bag_buy(store, room, BOB)
    assert await sales.expire_due(room, T0 + 9_999) == 0
    other = SaleStore(
        await open_store(
            redis_url, key_prefix=store.settings.key_prefix, webhook_url="http://x/", webhook_secret="s"
        )
    )
    try:
        assert await other.expire_due(room, T0 + 10_000) == 1
        assert await sales.expire_due(room, T0 + 10_001) == 0  # the second process finds nothing to do
    finally:
        await close_store(other.store)
    [stored] = await store.orders(room)
    assert (stored["state"], stored["version"]) == ("expired", 2)
    assert (await bag(sales, room))["mug"]["stock_left"] == 1
    with pytest.raises(Conflict, match="expired"):
        await settle(sales, room, order, "confirm", now=T0 + 10_002)


async def test_confirming_after_pay_by_expires_the_order_instead(store: RoomStore, sales: SaleStore) -> None:
    room = await paying_room(store, 10)
    await product(sales, room)
    order = await bag_buy(store, room, BOB)
    with pytest.raises(Conflict, match="expired"):
        await settle(sales, room, order, "confirm", now=T0 + 10_000)
    assert await sales.expire_due(room, T0 + 10_001) == 0
    assert (await store.stats(room))["orders_by_state"]["expired"] == 1


async def test_expiry_timer_never_waits_longer_than_the_time_to_pay(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await paying_room(store, 30)
    timers = store.settings.key_prefix + "{orders}:timers"
    assert await store.redis.zscore(timers, room) is not None  # put_room registered it
    await sales.expire_due(room, T0)
    assert await store.redis.zscore(timers, room) == T0 + 30_000  # nothing reserved: look again then
    await product(sales, room)
    await bag_buy(store, room, BOB, now=T0 + 5_000)
    await sales.expire_due(room, T0 + 6_000)
    assert await store.redis.zscore(timers, room) == T0 + 35_000  # the order's pay_by
    await store.set_status(room, "stop", T0 + 7_000)
    await sales.expire_due(room, T0 + 35_000)
    assert await store.redis.zscore(timers, room) is None  # ended, nothing reserved: done


async def test_units_of_a_sold_out_pin_come_back_and_it_is_live_again(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await paying_room(store)
    await put_pin(store, room, id="p1", stock=2)
    order = await pin_buy(store, room, BOB, qty=2)
    assert (await store.tick_pin(room, T0)).state == "sold_out"
    after = len(await events_of(store, room))
    await settle(sales, room, order, "cancel", BOB)
    [event] = (await events_of(store, room))[after:]
    assert event["t"] == "pin" and event["pin"]["state"] == "live" and event["pin"]["stock_left"] == 2
    # The per-user limit (3) counts held units only: the cancelled 2 do not count any more.
    again = await pin_buy(store, room, BOB, qty=2, rid="b2")
    assert again["state"] == "reserved"


async def test_units_released_after_the_pin_ended_go_to_its_bag_product(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await paying_room(store)
    await product(sales, room, stock=5)
    await put_pin(store, room, id="p1", product=None, product_id="mug", stock=3)
    order = await pin_buy(store, room, BOB, qty=2)
    await store.end_pin(room, "p1", T0 + 1)
    assert (await bag(sales, room))["mug"]["stock_left"] == 3  # 2 + the 1 unsold
    await settle(sales, room, order, "cancel", now=T0 + 2)
    assert (await bag(sales, room))["mug"]["stock_left"] == 5
    archived = orjson.loads(await store.redis.hget(store.keys(room).pins, "p1"))
    assert archived["stock_left"] == 3  # the pin's own books: 3 = 0 held + 3 unsold


async def test_price_protection_owes_only_orders_that_stay_and_takes_it_back_on_expiry(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await paying_room(store, 10)
    await put_pin(
        store, room, id="p1", tiers=[{"at": 0, "price_cents": 2500}, {"at": 1, "price_cents": 2000}]
    )
    kept = await pin_buy(store, room, BOB)
    dropped = await pin_buy(store, room, ANN, rid="a1")
    lost = await pin_buy(store, room, who("cy"), rid="c1")
    await settle(sales, room, dropped, "cancel", ANN)
    await store.post_chat(room, BOB, "cheaper", T0 + 1)
    await store.end_pin(room, "p1", T0 + 2)
    refunds = {o["user"]: o["refund_cents"] for o in await store.orders(room)}
    assert refunds == {"bob": 500, "ann": 0, "cy": 500}
    assert (await store.stats(room))["refund_cents"] == 1000
    await settle(sales, room, kept, "confirm", now=T0 + 3)
    await sales.expire_due(room, T0 + 10_000)  # cy never paid: owed nothing
    refunds = {o["user"]: (o["state"], o["refund_cents"]) for o in await store.orders(room)}
    assert refunds == {"bob": ("confirmed", 500), "ann": ("cancelled", 0), "cy": ("expired", 0)}
    assert (await store.stats(room))["refund_cents"] == 500
    assert lost["state"] == "reserved"


# --- the outbox ----------------------------------------------------------------------------


async def test_every_change_writes_its_webhook_event_in_the_same_step(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await paying_room(store, 10)
    await product(sales, room)
    order = await bag_buy(store, room, BOB)
    await settle(sales, room, order, "confirm", now=T0 + 1)
    other = await bag_buy(store, room, ANN, rid="a1")
    await sales.expire_due(room, T0 + 20_000)
    await store.set_status(room, "stop", T0 + 20_001)
    events = await outbox(store, room)
    assert [e["type"] for e in events] == [
        "room.live",
        "order.reserved",
        "order.confirmed",
        "order.reserved",
        "order.expired",
        "room.ended",
    ]
    assert [e["id"] for e in events] == [f"evt_{room}_{n}" for n in range(1, 7)]
    assert [e["data"]["order"]["version"] for e in events[1:5]] == [1, 2, 1, 2]
    assert events[4]["data"]["order"]["id"] == other["id"] and events[4]["created_ms"] == T0 + 20_000
    assert events[-1]["data"]["room"] == {
        "id": room,
        "title": "Show",
        "status": "ended",
        "host": {"id": "host", "name": "Host"},
    }
    due = await store.redis.zrange(store.keys(room).hooks_due, 0, -1, withscores=True)
    assert sorted(due, key=lambda d: d[1])[0][1] == T0  # due at once
    index = await store.redis.zscore(store.settings.key_prefix + "{hooks}:rooms", room)
    assert index is not None and index <= T0


async def test_an_order_born_confirmed_sends_order_confirmed_only(store: RoomStore, sales: SaleStore) -> None:
    room = await new_room(store)
    await put_pin(store, room, id="p1")
    await pin_buy(store, room, BOB)
    assert [e["type"] for e in await outbox(store, room)] == ["room.live", "pin.started", "order.confirmed"]


async def test_orders_are_indexed_for_their_buyer_and_refusals_are_not(
    store: RoomStore, sales: SaleStore
) -> None:
    room = await new_room(store)
    await product(sales, room, stock=1)
    order = await bag_buy(store, room, BOB)
    with pytest.raises(SoldOut):
        await bag_buy(store, room, BOB, rid="b2")
    await bag_buy(store, room, BOB)  # a replay: the same entry, not a second one
    index = store.settings.key_prefix + "{user:bob}:orders"
    for _ in range(50):  # the refused buy's entry is taken out by a command nobody awaits
        entries = await store.redis.zrange(index, 0, -1)
        if len(entries) == 1:
            break
        await asyncio.sleep(0.02)
    assert entries == [f"{room}\t{order['id']}"]


async def test_without_a_webhook_url_nothing_piles_up_in_an_outbox(redis_url: str) -> None:
    plain = await open_store(redis_url)  # no webhook_url: nobody would ever deliver them
    try:
        room = await paying_room(plain)
        await product(SaleStore(plain), room)
        await bag_buy(plain, room, BOB)
        assert await plain.redis.exists(plain.keys(room).hooks, plain.keys(room).hooks_due) == 0
        assert await plain.redis.zscore(plain.settings.key_prefix + "{hooks}:rooms", room) is None
    finally:
        await close_store(plain)
