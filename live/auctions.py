"""Live auctions (contract §11), in Redis.

``auction_create.lua`` puts an auction up (ending the one before), ``bid.lua`` takes a bid by the
server's clock, and ``_lib.lua``'s ``end_auction`` ends it exactly once, making the winner's order
in the same step: whichever comes first of a bid past the end, the room's timer on any process, a
hub's poll, a new auction, or the show's stop.

The winner's order is made inside the room's slot, where the buyer's index of orders (the user's
slot) is out of reach; so every bid writes, ahead of the script in the same pipeline, the entry
naming the order the bidder would win (``won-<auction id>``). A bidder who does not win keeps an
entry that names nothing, which ``GET /api/me/orders`` skips (and drops once no auction could still
be running: live/me_orders.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from live.auth import Identity
from live.keys import pin_timers, user_orders
from live.scripts import check, load
from live.store import RoomStore, now_ms
from rooms.auctions import AuctionSpec
from rooms.errors import NoSuchAuction


@dataclass(frozen=True, slots=True)
class Bid:
    """The ack's ``bid`` object (JSON) and whether it repeats an earlier answer."""

    bid: str
    replayed: bool


def won_order_id(auction: str) -> str:
    return f"won-{auction}"


class AuctionStore:
    def __init__(self, store: RoomStore) -> None:
        self.store = store
        self.redis = store.redis
        self.prefix = store.settings.key_prefix
        self._create = load(self.redis, "auction_create")
        self._bid = load(self.redis, "bid")

    async def create(self, room: str, spec: AuctionSpec, now: int) -> str:
        """Put an auction up; its JSON (the ``auction`` event's object)."""
        auction_id = spec.id or f"a-{secrets.token_hex(4)}"
        product = orjson.dumps(spec.product.to_dict()).decode() if spec.product else ""
        reply = await self.store.run_sale_script(
            self._create,
            room,
            now,
            [
                auction_id,
                product,
                spec.start_cents,
                spec.increment_cents,
                spec.starts_at_ms(now),
                spec.ends_at_ms(now),
                spec.extend_s,
                spec.product_id or "",
            ],
        )
        first = spec.starts_at_ms(now) if spec.starts_in_s else spec.ends_at_ms(now)
        await self.redis.zadd(pin_timers(self.prefix), {room: first}, lt=True)
        return str(reply[1])

    def bid_call(
        self, room: str, user: str, auction: str, request_id: str, cents: int, now: int, name: str = ""
    ) -> tuple[list[str], list[Any]]:
        """The KEYS and ARGV of one bid.lua call."""
        args = [
            *self.store.sale_head(room, now),
            user,
            auction,
            request_id,
            cents,
            orjson.dumps(name).decode(),
        ]
        return self.store.keys(room).bid_keys(auction), args

    async def bid(self, room: str, who: Identity, auction: str, request_id: str, cents: int, now: int) -> Bid:
        index = user_orders(self.prefix, who.id)
        keys, args = self.bid_call(room, who.id, auction, request_id, cents, now, who.name)
        ahead = (("ZADD", index, "GT", now, f"{room}\t{won_order_id(auction)}"),)
        reply = check(await self.store.batcher.call(self._bid, keys, args, ahead))
        return Bid(str(reply[1]), bool(int(reply[2])))

    async def auction_json(self, room: str, auction: str) -> dict[str, Any]:
        """The auction and its bid ladder, highest first (``GET /api/rooms/{room}/auctions/{auction}``)."""
        k = self.store.keys(room)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(k.auction, "id")
        pipe.hget(k.auctions, auction)
        pipe.lrange(k.auction_bids(auction), 0, -1)
        current, archived, bids = await pipe.execute()
        if archived:
            body = orjson.loads(archived)
        elif current == auction and (running := (await self.store.current(room, now_ms()))[1]):
            body = orjson.loads(running)
        else:
            raise NoSuchAuction(f"no auction {auction} in this room")
        body["ladder"] = [orjson.loads(b) for b in reversed(bids)]
        return dict(body)
