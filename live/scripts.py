"""The one loader of the Lua scripts in ``live/lua/``.

Each script is sent with EVALSHA; redis-py falls back to EVAL on NOSCRIPT, so a Redis
that was restarted (and forgot its script cache) is served without a special case.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from redis.commands.core import AsyncScript

from rooms.errors import RoomError, TooLow, error_from_code

LUA_DIR = Path(__file__).with_name("lua")


def _source(name: str) -> str:
    return (LUA_DIR / "_lib.lua").read_text() + "\n" + (LUA_DIR / f"{name}.lua").read_text()


def load(redis: Any, name: str) -> AsyncScript:
    """One script of ``live/lua/<name>.lua`` (with _lib.lua) for a module that keeps its own."""
    return redis.register_script(_source(name))


@dataclass(frozen=True, slots=True)
class Scripts:
    chat_post: AsyncScript
    room_put: AsyncScript
    room_status: AsyncScript
    moderate: AsyncScript
    snapshot: AsyncScript
    current: AsyncScript
    viewers_report: AsyncScript
    pin_create: AsyncScript
    pin_tick: AsyncScript
    pin_end: AsyncScript
    buy: AsyncScript
    bag_buy: AsyncScript
    bag: AsyncScript
    product_put: AsyncScript
    product_delete: AsyncScript
    order_settle: AsyncScript
    orders_expire: AsyncScript
    history: AsyncScript

    @classmethod
    def register(cls, redis: Any) -> Scripts:
        return cls(**{f.name: redis.register_script(_source(f.name)) for f in fields(cls)})


def check(reply: Any) -> list[Any]:
    """Return an ``ok`` reply's list, or raise the error a script answered with."""
    if isinstance(reply, list) and reply and reply[0] == "err":
        retry = int(reply[3]) if len(reply) > 3 else -1
        err = error_from_code(reply[1], reply[2], retry if retry >= 0 else None)
        if isinstance(err, TooLow) and len(reply) > 4:
            err.min_cents = int(reply[4])  # _lib.lua too_low
        try:
            raise err
        finally:
            del err  # else this frame, in the error's traceback, holds the error: a cycle
    if not isinstance(reply, list):
        raise RoomError(f"unexpected script reply {reply!r}")
    return reply
