"""Auctions in Lua (auction_create, bid, and _lib.lua's end_auction / tick_auction), run by the real
Redis with an explicit ``now``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from live.auctions import AuctionStore
from live.sales import SaleStore
from live.store import RoomStore
from rooms.auctions import parse_auction
from rooms.errors import Conflict, Ended, Forbidden, NoSuchAuction, NoSuchProduct, NotStarted, SoldOut, TooLow
from rooms.room import RoomSettings
from tests.live.store_kit import T0, events_of, host_of, new_room, who
from tests.live.test_scripts_orders import SHOP, bag, outbox, product, sales, settle, store

__all__ = ["sales", "store"]  # the fixtures: a store with webhooks on, and its SaleStore

BOB, ANN = who("bob"), who("ann")
CARD = {"id": "card-1", "title": "Rookie card", "list_price_cents": 5000}
AUCTION: dict[str, Any] = {
    "product": CARD,
    "start_cents": 1000,
    "increment_cents": 100,
    "duration_s": 30,
    "extend_s": 10,
}


@pytest.fixture
def auctions(store: RoomStore) -> AuctionStore:
    return AuctionStore(store)


async def up(auctions: AuctionStore, room: str, now: int = T0, **changes: Any) -> dict[str, Any]:
    return dict(orjson.loads(await auctions.create(room, parse_auction({**AUCTION, **changes}), now)))


async def bid(
    auctions: AuctionStore, room: str, user: Any, cents: int, now: int, rid: str = "", aid: str = "a1"
) -> Any:
    got = await auctions.bid(room, user, aid, rid or f"b{cents}", cents, now)
    return orjson.loads(got.bid)


async def of_kind(store: RoomStore, room: str, t: str) -> list[dict[str, Any]]:
    return [e for e in await events_of(store, room) if e["t"] == t]


async def test_an_auction_goes_up_with_the_object_and_the_first_bid_must_reach_the_start(
    store: RoomStore, auctions: AuctionStore
) -> None:
    room = await new_room(store)
    a = await up(auctions, room, id="a1")
    assert a == {
        "id": "a1",
        "product": CARD,
        "state": "live",
        "start_cents": 1000,
        "increment_cents": 100,
        "high_cents": None,
        "high_bidder": None,
        "bids": 0,
        "starts_at_ms": T0,
        "ends_at_ms": T0 + 30_000,
        "extend_s": 10,
    }
    assert [e["auction"] for e in await of_kind(store, room, "auction")] == [a]
    with pytest.raises(TooLow) as low:
        await bid(auctions, room, BOB, 999, T0 + 1)
    assert low.value.min_cents == 1000
    assert await bid(auctions, room, BOB, 1000, T0 + 1) == {"cents": 1000, "ends_at_ms": T0 + 30_000}
    with pytest.raises(TooLow) as low:
        await bid(auctions, room, ANN, 1099, T0 + 2)
    assert low.value.min_cents == 1100 and "1100" in low.value.message
    await bid(auctions, room, ANN, 1500, T0 + 2)  # above the minimum is fine
    bids = await of_kind(store, room, "bid")
    assert [(b["user"]["id"], b["cents"]) for b in bids] == [("bob", 1000), ("ann", 1500)]
    with pytest.raises(Forbidden):
        await bid(auctions, room, host_of(room), 5000, T0 + 3)
    with pytest.raises(NoSuchAuction):
        await bid(auctions, room, BOB, 5000, T0 + 3, aid="nope")
    ladder = (await auctions.auction_json(room, "a1"))["ladder"]
    assert [b["cents"] for b in ladder] == [1500, 1000]


async def test_the_same_request_id_gets_the_same_answer(store: RoomStore, auctions: AuctionStore) -> None:
    room = await new_room(store)
    await up(auctions, room, id="a1")
    first = await auctions.bid(room, BOB, "a1", "r1", 1000, T0 + 1)
    await bid(auctions, room, ANN, 1100, T0 + 2)
    again = await auctions.bid(room, BOB, "a1", "r1", 1000, T0 + 3)  # outbid since: still the same answer
    assert again.bid == first.bid and again.replayed
    assert len(await of_kind(store, room, "bid")) == 2


async def test_a_late_bid_extends_the_end_and_an_early_one_does_not(
    store: RoomStore, auctions: AuctionStore
) -> None:
    room = await new_room(store)
    await up(auctions, room, id="a1")  # ends at T0 + 30 s, extend 10 s
    assert (await bid(auctions, room, BOB, 1000, T0 + 19_999))["ends_at_ms"] == T0 + 30_000  # 10.001 s left
    assert (await bid(auctions, room, ANN, 1100, T0 + 25_000))["ends_at_ms"] == T0 + 35_000
    assert (await bid(auctions, room, BOB, 1200, T0 + 34_000))["ends_at_ms"] == T0 + 44_000
    assert (await store.tick_room(room, T0 + 35_000)).deadline_ms == T0 + 44_000  # the old end passed quietly
    assert await of_kind(store, room, "auction_end") == []


async def test_sudden_death_never_moves_and_nothing_is_taken_at_or_after_the_end(
    store: RoomStore, auctions: AuctionStore
) -> None:
    room = await new_room(store)
    await up(auctions, room, id="a1", extend_s=0)
    assert (await bid(auctions, room, BOB, 1000, T0 + 29_999))["ends_at_ms"] == T0 + 30_000
    with pytest.raises(Ended):
        await bid(auctions, room, ANN, 2000, T0 + 30_000)
    await store.tick_room(room, T0 + 30_500)
    with pytest.raises(Ended):
        await bid(auctions, room, ANN, 3000, T0 + 31_000, rid="x")
    ends = await of_kind(store, room, "auction_end")
    assert [(e["auction"], e["winner"], e["cents"]) for e in ends] == [
        ("a1", {"id": "bob", "name": "Bob"}, 1000)
    ]


async def test_the_winner_gets_an_order_at_the_winning_price_and_the_shop_is_told_once(
    store: RoomStore, sales: SaleStore, auctions: AuctionStore
) -> None:
    room = await new_room(store)
    await store.put_settings(room, RoomSettings(pay_within_s=60), host_of(room))
    await up(auctions, room, id="a1")
    await bid(auctions, room, BOB, 1000, T0 + 1)
    await bid(auctions, room, ANN, 1300, T0 + 2)
    await store.tick_room(room, T0 + 30_000)
    await store.tick_room(room, T0 + 30_001)
    (order,) = await store.orders(room)
    assert order["id"] == "won-a1" and order["auction"] == "a1" and order["user"] == "ann"
    assert order["unit_price_cents"] == 1300 and order["total_cents"] == 1300 and order["qty"] == 1
    assert (
        order["state"] == "reserved" and order["pay_by_ms"] == T0 + 90_000 and order["title"] == "Rookie card"
    )
    won = [e for e in await outbox(store, room) if e["type"] == "auction.won"]
    assert len(won) == 1 and won[0]["data"]["order"]["id"] == "won-a1"
    assert won[0]["data"]["auction"]["high_bidder"] == {"id": "ann", "name": "Ann"}
    assert won[0]["data"]["auction"]["state"] == "ended"
    assert [e["type"] for e in await outbox(store, room)].count("order.reserved") == 1
    confirmed = await settle(sales, room, order, "confirm", SHOP, T0 + 31_000)
    assert confirmed["state"] == "confirmed"


async def test_a_bag_products_unit_comes_back_when_unsold_or_when_the_won_order_goes(
    store: RoomStore, sales: SaleStore, auctions: AuctionStore
) -> None:
    room = await new_room(store)
    await store.put_settings(room, RoomSettings(pay_within_s=60), host_of(room))
    await product(sales, room, stock=2)
    with pytest.raises(NoSuchProduct):
        await up(auctions, room, id="a0", product=None, product_id="nope")
    first = await up(auctions, room, id="a1", product=None, product_id="mug")
    assert first["product"]["title"] == "Panda mug" and (await bag(sales, room))["mug"]["stock_left"] == 1
    await up(auctions, room, T0 + 40_000, id="a2", product=None, product_id="mug")  # a1 ended unsold: back
    assert (await bag(sales, room))["mug"]["stock_left"] == 1
    ends = await of_kind(store, room, "auction_end")
    assert [(e["auction"], e["winner"], e["cents"]) for e in ends] == [("a1", None, None)]
    await bid(auctions, room, BOB, 1000, T0 + 40_001, aid="a2")
    await store.tick_room(room, T0 + 70_000)
    assert (await bag(sales, room))["mug"]["stock_left"] == 1  # sold by auction
    await up(auctions, room, T0 + 70_001, id="a3", product=None, product_id="mug")  # the last unit
    await up(auctions, room, T0 + 70_002, id="a4", product=None, product_id="mug")  # a3's, unsold, again
    await bid(auctions, room, ANN, 1000, T0 + 70_003, aid="a4")
    with pytest.raises(SoldOut):
        await up(auctions, room, T0 + 70_004, id="a5", product=None, product_id="mug")  # a4's is bid on
    order = next(o for o in await store.orders(room) if o["id"] == "won-a2")
    assert order["product"] == "mug" and order["pin"] is None
    await settle(sales, room, order, "cancel", SHOP, T0 + 71_000)
    assert (await bag(sales, room))["mug"]["stock_left"] == 1  # the cancelled win's unit is back
    assert await store.redis.hget(store.keys(room).bag_bought, "mug:bob") is None


async def test_a_new_auction_or_the_shows_end_ends_the_running_one_once(
    store: RoomStore, auctions: AuctionStore
) -> None:
    room = await new_room(store)
    await up(auctions, room, id="a1")
    await bid(auctions, room, BOB, 1000, T0 + 1)
    with pytest.raises(Conflict):
        await up(auctions, room, T0 + 2, id="a1")
    await up(auctions, room, T0 + 2, id="a2")
    with pytest.raises(Ended):
        await bid(auctions, room, ANN, 5000, T0 + 3, aid="a1")
    await store.set_status(room, "stop", T0 + 4)
    ends = await of_kind(store, room, "auction_end")
    assert [(e["auction"], e["cents"]) for e in ends] == [("a1", 1000), ("a2", None)]
    assert [o["id"] for o in await store.orders(room)] == ["won-a1"]


async def test_an_upcoming_auction_refuses_bids_then_starts_with_an_event(
    store: RoomStore, auctions: AuctionStore
) -> None:
    room = await new_room(store)
    a = await up(auctions, room, id="a1", starts_in_s=10)
    assert a["state"] == "upcoming" and a["ends_at_ms"] == T0 + 40_000
    with pytest.raises(NotStarted) as early:
        await bid(auctions, room, BOB, 1000, T0 + 1)
    assert early.value.retry_after_ms == 9_999
    assert (await store.tick_room(room, T0 + 5)).deadline_ms == T0 + 10_000
    await store.tick_room(room, T0 + 10_000)
    states = [e["auction"]["state"] for e in await of_kind(store, room, "auction")]
    assert states == ["upcoming", "live"]
    await bid(auctions, room, BOB, 1000, T0 + 10_001)
    snap = await store.snapshot(room, now=T0 + 10_002)
    assert orjson.loads(snap.auction_json or "{}")["high_bidder"] == {"id": "bob", "name": "Bob"}
    assert (await store.current(room, T0 + 10_002))[1] == snap.auction_json  # current.lua: the same object
