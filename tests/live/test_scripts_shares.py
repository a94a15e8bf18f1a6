"""Share links in Lua: attribution (share_visit.lua) and the commission the buy scripts put on
orders, counted on the sharer's figures and given back when an order is cancelled or expires
(_lib.lua share_field / share_void). Real Redis, explicit ``now``."""

from __future__ import annotations

import orjson
import pytest

from live.keys import RoomKeys
from live.sales import SaleStore
from live.shares import Shares, figures, share_code
from live.store import RoomStore
from rooms.room import RoomSettings
from tests.live.store_kit import T0, host_of, new_room, put_pin, who
from tests.live.test_scripts_orders import MUG, bag_buy, outbox, pin_buy, product, sales, settle, store

__all__ = ["sales", "store"]  # the fixtures: a store with webhooks on, and its SaleStore

BOB, ANN, SUE = who("bob"), who("ann"), who("sue")


@pytest.fixture
def shares(store: RoomStore) -> Shares:
    return Shares(store.redis, store.settings)


async def shop_room(store: RoomStore, commission_bp: int, pay_within_s: int = 0) -> str:
    room = await new_room(store)
    settings = RoomSettings(commission_bp=commission_bp, pay_within_s=pay_within_s)
    await store.put_settings(room, settings, host_of(room))
    return room


async def make_code(store: RoomStore, room: str, sharer: str) -> str:
    """What POST /shares records, without HTTP (tests/live/test_shares_api.py covers the endpoint)."""
    code = share_code(store.settings.secret, room, sharer)
    await store.redis.hset(store.keys(room).shares, code, sharer)
    return code


async def board(store: RoomStore, room: str, sharer: str) -> dict[str, int]:
    return figures(await store.redis.hgetall(store.keys(room).share_board), sharer)


def test_a_code_is_the_same_for_the_same_user_and_room_and_differs_otherwise() -> None:
    code = share_code("s3cret", "tea", "sue")
    assert code == share_code("s3cret", "tea", "sue") and len(code) == 12
    assert len({code, share_code("s3cret", "tea", "bob"), share_code("s3cret", "mugs", "sue")}) == 3
    assert share_code("other", "tea", "sue") != code  # nobody without the secret can make one


async def test_the_first_valid_share_wins_and_self_and_unknown_codes_change_nothing(
    store: RoomStore, shares: Shares
) -> None:
    room = await shop_room(store, 1000)
    sue_code, ann_code = await make_code(store, room, "sue"), await make_code(store, room, "ann")
    assert await shares.visit(room, "sue", sue_code) is None  # one's own link
    assert await shares.visit(room, "bob", "zzzzzzzzzzzz") is None  # well formed, unknown
    assert await shares.visit(room, "bob", "<script>") is None  # malformed: not even looked up
    assert await shares.visit(room, "bob", sue_code) == "sue"
    assert await shares.visit(room, "bob", ann_code) == "sue"  # the first one stays
    assert await shares.visit(room, "bob", sue_code) == "sue"  # a second visit is not counted again
    assert (await board(store, room, "sue"))["visits"] == 1
    assert (await board(store, room, "ann"))["visits"] == 0
    assert await store.redis.hgetall(store.keys(room).attributions) == {"bob": "sue"}


async def test_commission_is_floored_at_the_rate_when_the_order_was_taken(
    store: RoomStore, sales: SaleStore, shares: Shares
) -> None:
    room = await shop_room(store, 333)  # 3.33 %
    await product(sales, room, list_price_cents=1999)
    await shares.visit(room, "bob", await make_code(store, room, "sue"))
    first = await bag_buy(store, room, BOB, qty=2, rid="b1")  # 3998 x 333 / 10000 = 133.13
    assert first["share"] == {"by": "sue", "commission_cents": 133}
    await store.put_settings(room, RoomSettings(commission_bp=5000), host_of(room))
    second = await bag_buy(store, room, BOB, qty=1, rid="b2")  # the new rate from now on
    assert second["share"] == {"by": "sue", "commission_cents": 999}
    [a, b] = await store.orders(room)
    assert (a["share"], b["share"]) == (first["share"], second["share"])  # as stored
    assert await board(store, room, "sue") == {
        "visits": 1,
        "buyers": 1,
        "orders": 2,
        "gmv_cents": 3998 + 1999,
        "commission_cents": 133 + 999,
    }
    plain = await bag_buy(store, room, ANN, rid="a1")  # nobody brought ann in
    assert "share" not in plain


async def test_pin_orders_carry_the_share_at_the_tier_price(store: RoomStore, shares: Shares) -> None:
    room = await shop_room(store, 1000)
    await put_pin(store, room, id="p1")  # tier 0: 2500
    await shares.visit(room, "bob", await make_code(store, room, "sue"))
    order = await pin_buy(store, room, BOB, qty=3)
    assert (order["total_cents"], order["share"]) == (7500, {"by": "sue", "commission_cents": 750})


async def test_a_cancelled_or_expired_order_earns_nothing_and_its_figures_go_back(
    store: RoomStore, sales: SaleStore, shares: Shares
) -> None:
    room = await shop_room(store, 1000, pay_within_s=10)
    await product(sales, room, **{**MUG, "limit_per_user": 5})
    code = await make_code(store, room, "sue")
    for viewer in ("bob", "ann"):
        await shares.visit(room, viewer, code)
    kept = await bag_buy(store, room, BOB, rid="b1")
    cancelled = await bag_buy(store, room, BOB, rid="b2")
    expiring = await bag_buy(store, room, ANN, rid="a1", now=T0)
    assert (await board(store, room, "sue"))["orders"] == 3
    await settle(sales, room, kept, "confirm")
    gone = await settle(sales, room, cancelled, "cancel", BOB)
    assert gone["share"] == {"by": "sue", "commission_cents": 0}
    assert await sales.expire_due(room, T0 + 10_000) == 1
    orders = {o["id"]: o for o in await store.orders(room)}
    assert orders[expiring["id"]]["state"] == "expired"
    assert orders[expiring["id"]]["share"]["commission_cents"] == 0
    assert orders[kept["id"]]["share"]["commission_cents"] == 300
    # Only the confirmed order stands: one order, one buyer (ann has none left), its GMV and cut.
    assert await board(store, room, "sue") == {
        "visits": 2,
        "buyers": 1,
        "orders": 1,
        "gmv_cents": 3000,
        "commission_cents": 300,
    }
    # The shop is told the voided share with the order's change, as the order is everywhere.
    told = [e for e in await outbox(store, room) if e["type"] == "order.cancelled"]
    assert told[0]["data"]["order"]["share"]["commission_cents"] == 0


async def test_going_live_tells_the_shop_the_size_of_the_audience(store: RoomStore) -> None:
    room = await new_room(store, "scheduled")
    prefix = store.settings.key_prefix
    for user in ("u1", "u2", "u3"):
        await store.social.follow(user, "host", True, T0)
    await store.social.remind("u1", room, True, T0)
    await store.social.remind("u9", room, True, T0)
    await store.set_status(room, "start", T0)
    [live] = [e for e in await outbox(store, room) if e["type"] == "room.live"]
    assert live["data"]["audience"] == {"followers": 3, "reminded": 2}
    assert live["data"]["room"]["id"] == room
    assert RoomKeys(prefix, room).reminders  # the keys exist under the store's prefix
    assert orjson.dumps(live)  # plain JSON all the way down


async def test_an_order_that_earned_no_commission_can_still_be_cancelled(
    store: RoomStore, sales: SaleStore, shares: Shares
) -> None:
    # Moving a count of 0 by -1 made -0 in Lua, which Redis refuses: the cancel itself failed.
    room = await shop_room(store, 0, pay_within_s=10)
    await product(sales, room)
    await shares.visit(room, "bob", await make_code(store, room, "sue"))
    order = await bag_buy(store, room, BOB, rid="b1")
    assert order["share"] == {"by": "sue", "commission_cents": 0}
    assert (await settle(sales, room, order, "cancel", BOB))["state"] == "cancelled"
    assert (await board(store, room, "sue"))["orders"] == 0
