"""``GET /api/me/orders?limit=&cursor=`` (contract §7): my orders in every room, newest first.

The buy path writes the user's index ``{prefix}{user:<id>}:orders`` (member ``<room>\\t<order id>``,
score ts_ms) before the buy script, in the same pipeline, and removes the entry again when the
buy fails. A page reads the index newest first, then every order of the page from its room's
``orders`` hash (and its refund) in one pipeline. An entry whose order does not exist is skipped;
once it is older than ``STALE_INDEX_MS`` it can only be a buy that failed after its entry was
written (a crash between the two steps), and it is removed.

The cursor names the last entry a page looked at (ts_ms and member), so pages stay put while new
orders arrive at the top: ties on ts_ms are broken by the member, as Redis orders them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from live.api import JSONResponse, api_errors
from live.auth import required_identity
from live.keys import RoomKeys, user_orders
from live.settings import Settings
from live.store import now_ms
from rooms.errors import BadRequest
from rooms.ids import ROOM_ID_RE

PAGE_DEFAULT = 50
PAGE_MAX = 200
STALE_INDEX_MS = 10_000  # an index entry without its order after this long is a failed buy's
# A bidder's entry names the order the auction's end makes for its winner (live/auctions.py): it
# waits as long as an auction can run, then it is a lost bid's.
STALE_BID_INDEX_MS = 48 * 3600 * 1000
WON_ORDER_PREFIX = "won-"
_ORDER_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a user's order index."""

    room: str
    order_id: str
    ts_ms: int

    @property
    def member(self) -> str:
        return f"{self.room}\t{self.order_id}"

    @property
    def cursor(self) -> str:
        return f"{self.ts_ms}.{self.room}.{self.order_id}"

    @classmethod
    def from_index(cls, member: str, score: float) -> Entry | None:
        room, sep, order_id = member.partition("\t")
        return cls(room, order_id, int(score)) if sep else None


def parse_cursor(raw: str) -> Entry:
    """The entry a cursor names; ``BadRequest`` for anything no page gave out."""
    ts, _, rest = raw.partition(".")
    room, _, order_id = rest.partition(".")
    if not (
        ts.isdigit() and len(ts) <= 15 and ROOM_ID_RE.fullmatch(room) and _ORDER_ID_RE.fullmatch(order_id)
    ):
        raise BadRequest("cursor must be the next value of an earlier page")
    return Entry(room, order_id, int(ts))


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return PAGE_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        raise BadRequest(f"limit must be 1-{PAGE_MAX}")
    return int(raw)


_BUYER_RE = re.compile(r'"user":"([^"]*)"')


def _buyer(order_json: str) -> str | None:
    """The order's buyer: its first "user" field (the scripts write it before any text people typed)."""
    match = _BUYER_RE.search(order_json)
    return match.group(1) if match else None


def with_refund(order_json: str, refund: str | None) -> str:
    """The stored order with ``refund_cents`` spliced in before its closing brace."""
    return f'{order_json[:-1]},"refund_cents":{int(refund or 0)}}}'


class MyOrders:
    """The handler of ``GET /api/me/orders``."""

    def __init__(self, redis: Any, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings

    @api_errors
    async def endpoint(self, request: Request) -> Response:
        identity = required_identity(self.settings.secret, request.headers.get("authorization"))
        limit = parse_limit(request.query_params.get("limit"))
        raw_cursor = request.query_params.get("cursor") or None
        after = parse_cursor(raw_cursor) if raw_cursor is not None else None
        orders, next_cursor = await self.page(identity.id, limit, after, now_ms())
        body = b'{"orders":[' + ",".join(orders).encode() + b'],"next":' + orjson.dumps(next_cursor) + b"}"
        return JSONResponse(body)

    async def page(
        self, user: str, limit: int, after: Entry | None, now: int
    ) -> tuple[list[str], str | None]:
        """Up to ``limit`` orders (JSON) after the entry ``after``, newest first, and the next cursor."""
        index = user_orders(self.settings.key_prefix, user)
        entries = await self._entries(index, limit + 1, after)
        more = len(entries) > limit
        entries = entries[:limit]
        found = await self._orders(entries, user)
        stale = [
            e.member
            for e, order in zip(entries, found, strict=True)
            if order is None
            and e.ts_ms
            < now - (STALE_BID_INDEX_MS if e.order_id.startswith(WON_ORDER_PREFIX) else STALE_INDEX_MS)
        ]
        if stale:
            await self.redis.zrem(index, *stale)
        orders = [order for order in found if order is not None]
        return orders, (entries[-1].cursor if more and entries else None)

    async def _entries(self, index: str, n: int, after: Entry | None) -> list[Entry]:
        if after is None:
            rows = await self.redis.zrevrange(index, 0, n - 1, withscores=True)
        else:
            # The entries that share the cursor's ts_ms come first in the range: fetch past them
            # and keep those that sort after the cursor (a lower score, or the same and a lower member).
            tied = int(await self.redis.zcount(index, after.ts_ms, after.ts_ms))
            rows = await self.redis.zrevrangebyscore(
                index, after.ts_ms, "-inf", start=0, num=tied + n, withscores=True
            )
            rows = [(m, s) for m, s in rows if int(s) < after.ts_ms or m < after.member]
        entries = [Entry.from_index(member, score) for member, score in rows[:n]]
        return [e for e in entries if e is not None]

    async def _orders(self, entries: list[Entry], user: str) -> list[str | None]:
        """Each entry's order JSON with its refund, or None where the room has no such order of ``user``
        (an auction's order is named in every bidder's index and belongs to its winner)."""
        if not entries:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for entry in entries:
            keys = RoomKeys(self.settings.key_prefix, entry.room)
            pipe.hget(keys.orders, entry.order_id)
            pipe.hget(keys.refunds, entry.order_id)
        replies = await pipe.execute()
        return [
            with_refund(order, refund) if order and _buyer(order) == user else None
            for order, refund in zip(replies[0::2], replies[1::2], strict=True)
        ]
