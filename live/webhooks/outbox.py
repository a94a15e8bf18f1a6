"""The Redis side of webhook delivery: the rooms' outboxes and the ``{hooks}`` index of rooms due.

Each room's outbox lives in the room's slot (``RoomKeys.hooks*``) and is changed only by its two
scripts, ``hooks_claim.lua`` (lease due events) and ``hooks_result.lua`` (record an attempt); the
index, in a slot of its own, only by ``hooks_take.lua`` (lease due rooms) and
``hooks_reschedule.lua`` (put a room back), besides the writers' ``ZADD LT now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from live.keys import RoomKeys, hook_history, hook_rooms
from live.scripts import load

ATTEMPTS_KEPT = 20  # per event: the first attempt and the latest 19 (the count is kept apart)
ARCHIVE_KEEP = 1000  # delivered (and, apart, given-up) events kept per room for the deliveries API
HISTORY_ROOMS_KEPT = 10_000  # rooms the deliveries API can walk for delivered and failed events
SAMPLE_ROOMS = 1000  # rooms looked at when sampling the queue depth (the gauges are then a floor)


@dataclass(frozen=True, slots=True)
class LeasedEvent:
    id: str
    envelope: str  # the JSON exactly as the room's script stored it: the body that is signed and sent
    attempts: int  # attempts made before this lease
    first_attempt_ms: int | None  # None: this is the first
    lease_until: int


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room's outbox as a script left it."""

    next_due_ms: int | None  # the earliest due of its pending events; None = none pending
    hook_n: int  # events ever written in the room (rises with each new event)
    ended: bool


@dataclass(frozen=True, slots=True)
class Claim:
    events: list[LeasedEvent]
    view: RoomView


def _first_attempt_ms(log: str) -> int | None:
    if not log:
        return None
    attempts = orjson.loads(log)
    return int(attempts[0]["at_ms"]) if attempts else None


class Outbox:
    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.index = hook_rooms(prefix)
        self.history = hook_history(prefix)
        self._claim = load(redis, "hooks_claim")
        self._result = load(redis, "hooks_result")
        self._take = load(redis, "hooks_take")
        self._reschedule = load(redis, "hooks_reschedule")

    def keys(self, room: str) -> RoomKeys:
        return RoomKeys(self.prefix, room)

    async def take_rooms(self, now: int, lease_until: int, max_rooms: int) -> list[str]:
        """Rooms due at ``now``, leased to this caller until ``lease_until``."""
        return list(await self._take(keys=[self.index], args=[now, lease_until, max_rooms]))

    async def claim(self, room: str, now: int, lease_ms: int, max_events: int) -> Claim:
        """Lease up to ``max_events`` due events of ``room`` (0: only look at the room)."""
        reply = await self._claim(keys=self.keys(room).hooks_claim_keys(), args=[now, lease_ms, max_events])
        next_due, hook_n, status, lease_until = int(reply[0]), int(reply[1]), str(reply[2]), int(reply[3])
        events = [
            LeasedEvent(
                id=str(reply[i]),
                envelope=str(reply[i + 1]),
                attempts=int(reply[i + 3]),
                first_attempt_ms=_first_attempt_ms(str(reply[i + 2])),
                lease_until=lease_until,
            )
            for i in range(4, len(reply), 4)
        ]
        return Claim(events, RoomView(None if next_due < 0 else next_due, hook_n, status == "ended"))

    async def record(
        self,
        room: str,
        event: LeasedEvent,
        now: int,
        outcome: str,
        retry_due_ms: int,
        attempt: dict[str, Any],
    ) -> tuple[str, RoomView]:
        """Record one attempt; ``outcome`` is ``delivered``, ``retry`` (at ``retry_due_ms``) or ``failed``.

        Returns the script's verdict (``ok``, ``gone``, ``stale``: hooks_result.lua) and the room's
        outbox after it. A delivered or given-up event also marks the room in the history index.
        """
        reply = await self._result(
            keys=self.keys(room).hooks_result_keys(),
            args=[
                now,
                event.id,
                event.lease_until,
                outcome,
                retry_due_ms,
                orjson.dumps(attempt),
                ARCHIVE_KEEP,
                ATTEMPTS_KEPT,
            ],
        )
        verdict = str(reply[0])
        if verdict == "ok" and outcome != "retry":
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(self.history, {room: now}, gt=True)  # GT still adds a room not there
                pipe.zremrangebyrank(self.history, 0, -HISTORY_ROOMS_KEPT - 1)
                await pipe.execute()
        next_due = int(reply[1])
        return verdict, RoomView(None if next_due < 0 else next_due, int(reply[2]), False)

    async def reschedule(self, room: str, lease_until: int, next_due_ms: int | None) -> bool:
        """Put the room back in the index at ``next_due_ms`` (None: remove it); hooks_reschedule.lua."""
        due = -1 if next_due_ms is None else next_due_ms
        return bool(await self._reschedule(keys=[self.index], args=[room, lease_until, due]))

    async def hook_n(self, room: str) -> int:
        return int(await self.redis.hget(self.keys(room).meta, "hook_n") or 0)

    async def touch(self, room: str, now: int) -> None:
        """Make the room due now (what a writer does before and after a script that adds an event)."""
        await self.redis.zadd(self.index, {room: now}, lt=True)

    async def sample(self, now: int) -> tuple[int, int]:
        """Pending events across rooms and the age (ms) of the oldest one, over up to SAMPLE_ROOMS rooms."""
        rooms = await self.redis.zrange(self.index, 0, SAMPLE_ROOMS - 1)
        if not rooms:
            return 0, 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for room in rooms:
                k = self.keys(room)
                pipe.zcard(k.hooks_due)
                pipe.zrange(k.hooks_due, 0, 0, withscores=True)
                pipe.zrange(k.hooks_born, 0, 0, withscores=True)
            replies = await pipe.execute()
        depth, oldest = 0, now
        for i in range(0, len(replies), 3):
            depth += int(replies[i])
            # A never-leased event's due is its created_ms, a leased one's created_ms is in born
            # (and its due is later): the smaller of the two firsts is the oldest pending event.
            for first in (replies[i + 1], replies[i + 2]):
                if first:
                    oldest = min(oldest, int(first[0][1]))
        return depth, (now - oldest) if depth else 0
