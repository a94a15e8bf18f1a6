"""``GET /api/me/orders`` (contract §7): my orders in every room, newest first, in pages.

The orders and index entries are written here the way the buy path leaves them; the end-to-end
tests (test_me_e2e.py) let real buys write them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from live.keys import user_orders
from tests.live.me_kit import index_entry, order, store_order
from tests.support import Http, ServerProc

T0 = 1_700_000_000_000


@pytest.fixture
async def redis(live_server: ServerProc) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(live_server.redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def _all_pages(http: Http, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every order, following ``next``; and how many pages it took."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        path = f"/api/me/orders?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        r = await http.call("GET", path)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        found += body["orders"]
        cursor = body["next"]
        if cursor is None:
            return found, pages
        assert pages < 100, "paging does not end"


async def test_refused_without_a_token_or_with_a_bad_one(live_server: ServerProc) -> None:
    r = await Http(live_server).call("GET", "/api/me/orders")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = await Http(live_server, "garbage").call("GET", "/api/me/orders")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    alice = Http(live_server, live_server.token(name="Alice", sub="alice"))
    for query in (
        "limit=0",
        "limit=201",
        "limit=x",
        "cursor=nonsense",
        "cursor=12.BadRoom.o-1",
        "cursor=x.shop.o-1",
    ):
        r = await alice.call("GET", f"/api/me/orders?{query}")
        assert r.status_code == 400 and r.json()["error"] == "bad_request", query
    r = await alice.call("GET", "/api/me/orders")
    assert r.status_code == 200 and r.json() == {"orders": [], "next": None}


async def test_my_orders_of_every_room_newest_first_in_pages(
    live_server: ServerProc, redis: aioredis.Redis
) -> None:
    prefix = live_server.prefix
    # Two rooms; three orders share one millisecond (ties are broken by room and order id).
    stamps = [T0, T0 + 5, T0 + 5, T0 + 5, T0 + 9, T0 + 20, T0 + 21]
    mine = [
        order("alice", f"o-{i}", room=("shop-a", "shop-b")[i % 2], ts_ms=ts) for i, ts in enumerate(stamps)
    ]
    for i, body in enumerate(mine):
        await store_order(redis, prefix, body, refund_cents=150 if i == 2 else 0)
    await store_order(redis, prefix, order("bob", "o-bob", room="shop-a", ts_ms=T0 + 7))
    newest_first = sorted(mine, key=lambda o: (o["ts_ms"], f"{o['room']}\t{o['id']}"), reverse=True)
    alice = Http(live_server, live_server.token(name="Alice", sub="alice"))

    r = await alice.call("GET", "/api/me/orders")
    body = r.json()
    assert body["next"] is None
    assert [o["id"] for o in body["orders"]] == [o["id"] for o in newest_first]
    # Each order as stored, with refund_cents spliced in (0 when none is owed).
    by_id = {o["id"]: o for o in body["orders"]}
    assert by_id["o-2"] == {**mine[2], "refund_cents": 150}
    assert by_id["o-0"] == {**mine[0], "refund_cents": 0}

    for limit in (1, 2, 3, 7):
        found, pages = await _all_pages(alice, limit)
        assert [o["id"] for o in found] == [o["id"] for o in newest_first], limit
        assert pages == -(-len(mine) // limit)

    bob = await Http(live_server, live_server.token(name="Bob", sub="bob")).call("GET", "/api/me/orders")
    assert [o["id"] for o in bob.json()["orders"]] == ["o-bob"]


async def test_pages_stay_put_while_new_orders_arrive(live_server: ServerProc, redis: aioredis.Redis) -> None:
    prefix = live_server.prefix
    for i in range(6):
        await store_order(redis, prefix, order("alice", f"o-{i}", ts_ms=T0 + i))
    alice = Http(live_server, live_server.token(name="Alice", sub="alice"))
    first = (await alice.call("GET", "/api/me/orders?limit=3")).json()
    assert [o["id"] for o in first["orders"]] == ["o-5", "o-4", "o-3"]
    # Newer orders, one of them in the same millisecond as the cursor's entry: neither shows up
    # on the following page, and nothing is repeated or skipped.
    await store_order(redis, prefix, order("alice", "o-new", ts_ms=T0 + 100))
    await store_order(redis, prefix, order("alice", "o-3z", ts_ms=T0 + 3))
    second = (await alice.call("GET", f"/api/me/orders?limit=3&cursor={first['next']}")).json()
    assert [o["id"] for o in second["orders"]] == ["o-2", "o-1", "o-0"]
    assert second["next"] is None


async def test_index_entries_without_their_order_are_skipped_and_old_ones_removed(
    live_server: ServerProc, redis: aioredis.Redis
) -> None:
    prefix = live_server.prefix
    now = int(time.time() * 1000)
    await store_order(redis, prefix, order("alice", "o-kept", ts_ms=now - 60_000))
    # A buy that failed after its entry was written, long ago; and one that may still be running.
    await index_entry(redis, prefix, "alice", "shop", "o-failed", now - 30_000)
    await index_entry(redis, prefix, "alice", "shop", "o-in-flight", now)
    await index_entry(redis, prefix, "alice", "no-such-room", "o-nowhere", now - 20_000)
    alice = Http(live_server, live_server.token(name="Alice", sub="alice"))

    found, _ = await _all_pages(alice, 1)
    assert [o["id"] for o in found] == ["o-kept"]
    index = await redis.zrange(user_orders(prefix, "alice"), 0, -1)
    assert sorted(index) == ["shop\to-in-flight", "shop\to-kept"]
