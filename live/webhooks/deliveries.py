"""``GET /api/webhooks/deliveries?status=pending|failed|delivered[&limit=N]`` (service role, contract §7).

Recent events with their attempts, newest first, across rooms. The work is capped: pending events
are read from up to ``ROOMS_WALKED`` rooms of the ``{hooks}`` index (up to ``PENDING_PER_ROOM``
each), delivered and failed ones from the ``ROOMS_WALKED`` rooms most recently active in the
history index (each room keeps its last 1000 of each). Two pipelined round trips in all.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from live.api import JSONResponse, api_errors
from live.auth import required_identity
from live.keys import RoomKeys, hook_history, hook_rooms
from live.settings import Settings
from rooms.errors import BadRequest

STATUSES = ("pending", "failed", "delivered")
LIMIT_DEFAULT = 50
LIMIT_MAX = 1000
ROOMS_WALKED = 100
PENDING_PER_ROOM = 1000


def _limit(raw: str | None) -> int:
    if raw is None:
        return LIMIT_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= LIMIT_MAX:
        raise BadRequest(f"limit must be 1-{LIMIT_MAX}")
    return int(raw)


def _event_n(event_id: str) -> int:
    """The room's event counter from an id ``evt_<room>_<n>`` (0 for an id of another shape)."""
    tail = event_id.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def delivery(envelope: str, status: str, attempts: str | None) -> dict[str, Any]:
    """One entry of the answer: the envelope's fields, its status, and its attempts log."""
    event = orjson.loads(envelope)
    return {
        "id": event.get("id"),
        "type": event.get("type"),
        "created_ms": event.get("created_ms"),
        "status": status,
        "attempts": orjson.loads(attempts) if attempts else [],
        "data": event.get("data"),
    }


class Deliveries:
    def __init__(self, redis: Any, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings

    def _keys(self, room: str) -> RoomKeys:
        return RoomKeys(self.settings.key_prefix, room)

    @api_errors
    async def endpoint(self, request: Request) -> Response:
        identity = required_identity(self.settings.secret, request.headers.get("authorization"))
        identity.require_service()
        status = request.query_params.get("status", "")
        if status not in STATUSES:
            raise BadRequest("status must be pending, failed or delivered")
        limit = _limit(request.query_params.get("limit"))
        return JSONResponse({"deliveries": await self.recent(status, limit)})

    async def recent(self, status: str, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` events of ``status``, newest first (by created_ms, then event number)."""
        prefix = self.settings.key_prefix
        if status == "pending":
            rooms = await self.redis.zrange(hook_rooms(prefix), 0, ROOMS_WALKED - 1)
        else:
            rooms = await self.redis.zrevrange(hook_history(prefix), 0, ROOMS_WALKED - 1)
        if not rooms:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for room in rooms:
                k = self._keys(room)
                if status == "pending":
                    pipe.zrange(k.hooks_due, 0, PENDING_PER_ROOM - 1)
                else:
                    # Newest finished first: each room's last `limit` are all the answer can use.
                    pipe.zrevrange(
                        k.hooks_delivered if status == "delivered" else k.hooks_failed, 0, limit - 1
                    )
            id_lists = await pipe.execute()
        chosen: list[tuple[str, list[str]]] = []
        for room, ids in zip(rooms, id_lists, strict=True):
            if ids:
                chosen.append((room, sorted(ids, key=_event_n, reverse=True)[:limit]))
        if not chosen:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for room, ids in chosen:
                k = self._keys(room)
                pipe.hmget(k.hooks if status == "pending" else k.hooks_done, ids)
                pipe.hmget(k.hooks_attempts, ids)
            replies = await pipe.execute()
        out: list[tuple[int, int, dict[str, Any]]] = []
        for i, (_room, ids) in enumerate(chosen):
            envelopes, attempts = replies[2 * i], replies[2 * i + 1]
            for event_id, envelope, log in zip(ids, envelopes, attempts, strict=True):
                if envelope is None:
                    continue  # finished or trimmed between the two round trips
                entry = delivery(envelope, status, log)
                out.append((int(entry["created_ms"] or 0), _event_n(event_id), entry))
        out.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [entry for _, _, entry in out[:limit]]
