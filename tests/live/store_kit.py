"""A RoomStore on the real Redis with the real Lua scripts, a fresh key prefix, and time passed in.

The script tests (tests/live/test_scripts_*.py) drive every decision through it with an
explicit ``now``, so nothing sleeps and every branch is reached on purpose.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from live.auth import Identity, Role
from live.redis_client import connect
from live.settings import Settings
from live.store import RoomStore
from rooms.ids import RoomId, UserId
from rooms.pins import parse_pin
from tests.support import new_prefix

T0 = 1_700_000_000_000  # "now" in every script test: a fixed instant, never the clock
_rooms = itertools.count(1)

PIN: dict[str, Any] = {
    "product": {"id": "mug-1", "title": "Panda mug", "list_price_cents": 3000},
    "stock": 10,
    "limit_per_user": 3,
    "starts_in_s": 0,
    "duration_s": 60,
    "tiers": [{"at": 0, "price_cents": 2500}, {"at": 2, "price_cents": 2000}, {"at": 4, "price_cents": 1500}],
    "count": "posts",
    "price_protection": True,
}


def settings(**changes: Any) -> Settings:
    base: dict[str, Any] = {
        "key_prefix": new_prefix(),
        "chat_rate_posts": 0,
        "duplicate_window_ms": 30_000,
        "recent_chat": 3,
        "history_keep": 500,
    }
    base.update(changes)
    return Settings(**base)


async def open_store(redis_url: str, **changes: Any) -> RoomStore:
    return RoomStore(connect(redis_url), settings(**changes))


async def close_store(store: RoomStore) -> None:
    await store.batcher.close()
    await store.redis.aclose()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RoomStore]:
    st = await open_store(redis_url)
    yield st
    await close_store(st)


def who(sub: str, role: str = "viewer", room: str | None = None, name: str | None = None) -> Identity:
    return Identity(UserId(sub), name or sub.title(), Role(role), RoomId(room) if room else None)


def host_of(room: str) -> Identity:
    return who("host", "host", room, "Host")


def mod_of(room: str, sub: str = "mo") -> Identity:
    return who(sub, "mod", room)


async def new_room(store: RoomStore, status: str = "live", title: str = "Show") -> str:
    room = f"s-{next(_rooms)}"
    await store.put_room(room, title, host_of(room))
    if status == "live":
        await store.set_status(room, "start", T0)
    elif status == "ended":
        await store.set_status(room, "stop", T0)
    return room


async def put_pin(store: RoomStore, room: str, now: int = T0, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(PIN)
    body.update(changes)
    return dict(orjson.loads(await store.create_pin(room, parse_pin(body), now)))


async def events_of(store: RoomStore, room: str, after: int = 0) -> list[dict[str, Any]]:
    return [orjson.loads(e) for _, e in await store.read_events(room, after)]


async def kinds(store: RoomStore, room: str, after: int = 0) -> list[str]:
    return [e["t"] for e in await events_of(store, room, after)]


async def seq_of(store: RoomStore, room: str) -> int:
    return int(await store.redis.hget(store.keys(room).meta, "seq") or 0)
