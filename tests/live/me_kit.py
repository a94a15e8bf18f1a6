"""Helpers for the personal channel's tests: open ``/ws/me``, publish on a user's channel as the
scripts do, count a channel's subscribers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
import websockets

from live.keys import RoomKeys, me_channel, user_orders
from tests.support import Client, ServerProc


async def connect_me(server: ServerProc, token: str | None) -> Client:
    """A /ws/me socket, whatever the server answers (no ``hello`` on this channel)."""
    url = f"{server.ws_url}/ws/me" + (f"?token={token}" if token is not None else "")
    ws = await websockets.connect(url, compression=None, max_size=None, ping_interval=None)
    return Client(ws)


async def open_me(server: ServerProc, token: str, timeout: float = 15.0) -> Client:
    """A /ws/me socket the server took: it answered a ping. Refusals while the server is not yet
    (or no longer) subscribed (1011) are retried until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        client = await connect_me(server, token)
        try:
            await client.send({"t": "ping"})
            await client.next_of("pong", timeout=5)
            return client
        except (AssertionError, websockets.ConnectionClosed):
            await client.closed()
            if client.closed_code != 1011 or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def order(
    user: str, oid: str, room: str = "shop", ts_ms: int = 1_700_000_000_000, **extra: Any
) -> dict[str, Any]:
    """An order as the scripts store it (``name`` last)."""
    body: dict[str, Any] = {
        "id": oid,
        "room": room,
        "pin": "p1",
        "product": None,
        "user": user,
        "qty": 1,
        "unit_price_cents": 2500,
        "total_cents": 2500,
        "tier": 0,
        "ts_ms": ts_ms,
        "state": "reserved",
        "pay_by_ms": ts_ms + 60_000,
        "version": 1,
        **extra,
    }
    body["name"] = user.title()
    return body


async def publish(redis_url: str, prefix: str, user: str, body: dict[str, Any]) -> int:
    """PUBLISH an order on its user's channel as the scripts do; returns how many processes heard it."""
    return await publish_raw(redis_url, prefix, user, orjson.dumps(body))


async def publish_raw(redis_url: str, prefix: str, user: str, message: str | bytes) -> int:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return int(await client.publish(me_channel(prefix, user), message))
    finally:
        await client.aclose()


async def numsub(redis_url: str, prefix: str, *users: str) -> list[int]:
    """How many connections subscribe to each user's channel (``PUBSUB NUMSUB``)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        replies = await client.pubsub_numsub(*(me_channel(prefix, u) for u in users))
        return [int(n) for _, n in replies]
    finally:
        await client.aclose()


async def until_numsub(redis_url: str, prefix: str, user: str, want: int, timeout: float = 15.0) -> None:
    """Wait until ``want`` connections subscribe to the user's channel (an unsubscribe lingers first)."""
    deadline = time.monotonic() + timeout
    while (got := (await numsub(redis_url, prefix, user))[0]) != want:
        assert time.monotonic() < deadline, f"{user}: {got} subscribers, not {want}"
        await asyncio.sleep(0.05)


async def store_order(
    redis: aioredis.Redis, prefix: str, body: dict[str, Any], refund_cents: int = 0, index: bool = True
) -> None:
    """An order in its room's hash (and its refund), and in its buyer's index, as the buy path leaves it."""
    keys = RoomKeys(prefix, body["room"])
    await redis.hset(keys.orders, body["id"], orjson.dumps(body).decode())
    if refund_cents:
        await redis.hset(keys.refunds, body["id"], refund_cents)
    if index:
        await index_entry(redis, prefix, body["user"], body["room"], body["id"], body["ts_ms"])


async def index_entry(redis: aioredis.Redis, prefix: str, user: str, room: str, oid: str, ts_ms: int) -> None:
    await redis.zadd(user_orders(prefix, user), {f"{room}\t{oid}": ts_ms})


def pin_body(stock: int = 10) -> dict[str, Any]:
    """A live pin p1 at 25.00, five units a user."""
    return {
        "id": "p1",
        "product": {"id": "mug-1", "title": "Panda mug", "list_price_cents": 3000},
        "stock": stock,
        "limit_per_user": 5,
        "starts_in_s": 0,
        "duration_s": 300,
        "tiers": [{"at": 0, "price_cents": 2500}],
    }
