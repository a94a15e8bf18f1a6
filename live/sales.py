"""The bag and the lifecycle of orders (contract §6, §7), decided in Redis like everything else.

A thin layer over ``RoomStore``: each call is one sale script (live/lua), with the webhook index
notice around it (``RoomStore.run_sale_script``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from redis.exceptions import RedisError

from live.auth import Identity, Role
from live.keys import order_timers
from live.metrics import Metrics
from live.store import RoomStore
from rooms.errors import RoomError
from rooms.products import MAX_PRODUCTS, ProductSpec

log = logging.getLogger("live.sales")

EXPIRE_BATCH = 200  # orders one orders_expire.lua call may expire (a long queue takes several calls)


class SaleStore:
    def __init__(self, store: RoomStore, metrics: Metrics | None = None) -> None:
        self.store = store
        self.metrics = metrics or Metrics()

    async def put_product(self, room: str, spec: ProductSpec, now: int) -> tuple[bool, bytes]:
        """Add or change a bag product; ``(created, product JSON)``."""
        reply = await self.store.run_sale_script(
            self.store.scripts.product_put,
            room,
            now,
            [spec.id, orjson.dumps(spec.fixed_fields()).decode(), spec.stock, MAX_PRODUCTS],
        )
        return bool(int(reply[1])), str(reply[2]).encode()

    async def delete_product(self, room: str, product: str, now: int) -> None:
        await self.store.run_sale_script(self.store.scripts.product_delete, room, now, [product])

    async def bag(self, room: str, now: int) -> bytes:
        """The bag's products as a JSON array, in the order they were added."""
        reply = await self.store.run_sale_script(self.store.scripts.bag, room, now, [])
        return str(reply[1]).encode()

    async def settle(self, room: str, order: str, action: str, actor: Identity, now: int) -> bytes:
        """Confirm or cancel an order as ``actor`` (the API checked who may try); the order's JSON."""
        if actor.role is Role.SERVICE:
            kind = "service"
        elif actor.role is Role.HOST and actor.acts_on(room):
            kind = "host"
        else:
            kind = "buyer"  # order_settle.lua: only their own order, and only to cancel
        reply = await self.store.run_sale_script(
            self.store.scripts.order_settle, room, now, [order, action, actor.id, kind]
        )
        body = str(reply[1])
        if int(reply[2]):  # this call moved it (not a repeat)
            self.metrics.order("confirmed" if action == "confirm" else "cancelled")
        return body.encode()

    async def expire_due(self, room: str, now: int) -> int:
        """Expire the room's orders due by ``now``; keep its place on the expiry timer. Returns how many."""
        total = 0
        while True:
            reply = await self.store.run_sale_script(
                self.store.scripts.orders_expire, room, now, [EXPIRE_BATCH]
            )
            expired, next_ms, status = int(reply[1]), int(reply[2]), str(reply[3])
            total += expired
            self.metrics.order("expired", expired)
            if expired < EXPIRE_BATCH:
                break
        timers = order_timers(self.store.settings.key_prefix)
        if next_ms >= 0:
            await self.store.redis.zadd(timers, {room: next_ms})
        elif status in ("ended", ""):
            # Nothing reserved and no order can be taken any more: time has nothing left here.
            await self.store.redis.zrem(timers, room)
        return total

    async def due_order_rooms(self, now: int, limit: int = 100) -> list[str]:
        timers = order_timers(self.store.settings.key_prefix)
        return list(await self.store.redis.zrangebyscore(timers, "-inf", now, start=0, num=limit))


async def run_order_timers(sales: SaleStore, now_ms: Any, interval_s: float = 0.1) -> None:
    """Expire unpaid orders of every room on time, whichever process gets there first.

    Every process runs this; orders_expire.lua acts once per order, so two processes at the same
    room change nothing twice.
    """
    while True:
        try:
            for room in await sales.due_order_rooms(now_ms()):
                await sales.expire_due(room, now_ms())
        except RedisError as err:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from err
            log.warning("order timers: %s", err)
        except RoomError as err:
            log.warning("order timers: %s", err.message)
        await asyncio.sleep(interval_s)
