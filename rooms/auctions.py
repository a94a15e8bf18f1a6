"""Live auctions (contract §11): what an auction request may ask for.

The auction's rules over time (the minimum bid, the extension, the end and its one winner) are
decided in Lua only (live/lua/bid.lua and _lib.lua's end_auction), and tested there against the
real Redis (tests/live/test_scripts_auctions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rooms.errors import BadRequest
from rooms.fields import int_field
from rooms.ids import parse_item_id
from rooms.pins import MAX_PRICE_CENTS, MAX_STARTS_IN_S, Product, parse_product_source

MIN_DURATION_S, MAX_DURATION_S = 5, 3_600
MAX_EXTEND_S = 60
MAX_BID_CENTS = 10**10

_FIELDS = frozenset(
    {"id", "product", "product_id", "start_cents", "increment_cents", "duration_s", "extend_s", "starts_in_s"}
)


class AuctionState(StrEnum):
    UPCOMING = "upcoming"
    LIVE = "live"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class AuctionSpec:
    """A validated auction request. ``id`` None: the server chooses one."""

    id: str | None
    product: Product | None  # None for an auction of the bag's product ``product_id``
    start_cents: int
    increment_cents: int
    duration_s: int
    extend_s: int  # 0: sudden death, the end never moves
    starts_in_s: int = 0
    product_id: str | None = None

    def starts_at_ms(self, now_ms: int) -> int:
        return now_ms + self.starts_in_s * 1000

    def ends_at_ms(self, now_ms: int) -> int:
        return self.starts_at_ms(now_ms) + self.duration_s * 1000


def parse_auction(body: object) -> AuctionSpec:
    """A ``POST /api/rooms/{room}/auctions`` body, or ``BadRequest`` naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    extra = sorted(set(body) - _FIELDS)
    if extra:
        raise BadRequest(f"unknown field {extra[0]}")
    auction_id = None if body.get("id") is None else parse_item_id(body.get("id"), "id")
    product, product_id = parse_product_source(body, "an auction")
    return AuctionSpec(
        id=auction_id,
        product=product,
        start_cents=int_field(body, "start_cents", 0, MAX_PRICE_CENTS),
        increment_cents=int_field(body, "increment_cents", 1, MAX_PRICE_CENTS),
        duration_s=int_field(body, "duration_s", MIN_DURATION_S, MAX_DURATION_S),
        extend_s=int_field(body, "extend_s", 0, MAX_EXTEND_S),
        starts_in_s=int_field(body, "starts_in_s", 0, MAX_STARTS_IN_S, default=0),
        product_id=product_id,
    )
