"""Flash-sale pins: the request body's rules and the pin's states.

The sale's rules over time (the tier in force for a count, the state at an instant, what price
protection refunds) are decided in Lua only (live/lua/_lib.lua, buy.lua, chat_post.lua) and tested
there, against the real Redis (tests/live/test_scripts_sale.py): no Python twin to drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rooms.errors import BadRequest
from rooms.fields import int_field
from rooms.ids import parse_item_id

MAX_TIERS = 10
MAX_STOCK = 1_000_000
MAX_LIMIT_PER_USER = 100
MAX_STARTS_IN_S = 24 * 3600
MAX_DURATION_S = 24 * 3600
MAX_PRICE_CENTS = 10**9
MAX_TIER_AT = 10**9
MAX_TITLE_CHARS = 100
MAX_URL_CHARS = 2000

_PIN_FIELDS = frozenset(
    {
        "id",
        "product",
        "product_id",
        "stock",
        "limit_per_user",
        "starts_in_s",
        "duration_s",
        "tiers",
        "count",
        "price_protection",
    }
)
_PRODUCT_FIELDS = frozenset({"id", "title", "image_url", "list_price_cents"})


class PinState(StrEnum):
    UPCOMING = "upcoming"
    LIVE = "live"
    SOLD_OUT = "sold_out"
    ENDED = "ended"


class CountMode(StrEnum):
    POSTS = "posts"
    POSTERS = "posters"


@dataclass(frozen=True, slots=True)
class Tier:
    at: int
    price_cents: int


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    title: str
    list_price_cents: int
    image_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "title": self.title, "list_price_cents": self.list_price_cents}
        if self.image_url is not None:
            out["image_url"] = self.image_url
        return out


@dataclass(frozen=True, slots=True)
class PinSpec:
    """A validated pin request. ``id`` is None when the server should choose one."""

    id: str | None
    product: Product | None  # None for a pin made from the bag's product ``product_id``
    stock: int
    limit_per_user: int
    starts_in_s: int
    duration_s: int
    tiers: tuple[Tier, ...]
    count_mode: CountMode
    price_protection: bool
    product_id: str | None = None

    def starts_at_ms(self, now_ms: int) -> int:
        return now_ms + self.starts_in_s * 1000

    def ends_at_ms(self, now_ms: int) -> int:
        return self.starts_at_ms(now_ms) + self.duration_s * 1000


def _unknown(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise BadRequest(f"unknown field {where}{extra[0]}")


def parse_title(value: object, where: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_TITLE_CHARS:
        raise BadRequest(f"{where}title must be a string of 1-{MAX_TITLE_CHARS} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise BadRequest(f"{where}title contains control characters")
    return value.strip()


def parse_image_url(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_URL_CHARS:
        raise BadRequest(f"{where}image_url must be a string of 1-{MAX_URL_CHARS} characters")
    # Only URLs a page can show safely: no javascript:, no data: scripts.
    if not value.startswith(("https://", "http://", "/")) or any(ord(c) <= 32 for c in value):
        raise BadRequest(f"{where}image_url must be an http(s) URL or a path starting with /")
    return value


def parse_product(value: object) -> Product:
    if not isinstance(value, dict):
        raise BadRequest("product must be an object")
    _unknown(value, _PRODUCT_FIELDS, "product.")
    product_id = parse_item_id(value.get("id"), "product.id")
    title = parse_title(value.get("title"), "product.")
    image_url = parse_image_url(value.get("image_url"), "product.")
    list_price = int_field(value, "list_price_cents", 0, MAX_PRICE_CENTS, where="product.")
    return Product(product_id, title, list_price, image_url)


def parse_tiers(value: object) -> tuple[Tier, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TIERS:
        raise BadRequest(f"tiers must be a list of 1-{MAX_TIERS} tiers")
    tiers: list[Tier] = []
    for i, raw in enumerate(value):
        where = f"tiers[{i}]."
        if not isinstance(raw, dict):
            raise BadRequest(f"tiers[{i}] must be an object")
        _unknown(raw, frozenset({"at", "price_cents"}), where)
        tier = Tier(
            int_field(raw, "at", 0, MAX_TIER_AT, where=where),
            int_field(raw, "price_cents", 0, MAX_PRICE_CENTS, where=where),
        )
        if i == 0 and tier.at != 0:
            raise BadRequest("tiers[0].at must be 0")
        if tiers and tier.at <= tiers[-1].at:
            raise BadRequest(f"tiers[{i}].at must be greater than tiers[{i - 1}].at")
        if tiers and tier.price_cents > tiers[-1].price_cents:
            raise BadRequest(f"tiers[{i}].price_cents must not be greater than tiers[{i - 1}].price_cents")
        tiers.append(tier)
    return tuple(tiers)


def parse_product_source(body: dict[str, Any], what: str) -> tuple[Product | None, str | None]:
    """An inline ``product`` or a bag product's ``product_id``: exactly one of the two."""
    if body.get("product_id") is not None:
        if body.get("product") is not None:
            raise BadRequest(f"{what} names either product or product_id, not both")
        return None, parse_item_id(body.get("product_id"), "product_id")
    return parse_product(body.get("product")), None


def parse_pin(body: object) -> PinSpec:
    """Validate a pin request body; every error names the field."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    _unknown(body, _PIN_FIELDS, "")
    pin_id = None if body.get("id") is None else parse_item_id(body.get("id"), "id")
    product, product_id = parse_product_source(body, "a pin")
    count = body.get("count", CountMode.POSTERS.value)
    try:
        count_mode = CountMode(count)
    except ValueError:
        raise BadRequest("count must be 'posts' or 'posters'") from None
    protection = body.get("price_protection", False)
    if not isinstance(protection, bool):
        raise BadRequest("price_protection must be true or false")
    return PinSpec(
        id=pin_id,
        product=product,
        stock=int_field(body, "stock", 1, MAX_STOCK),
        limit_per_user=int_field(body, "limit_per_user", 1, MAX_LIMIT_PER_USER, default=1),
        starts_in_s=int_field(body, "starts_in_s", 0, MAX_STARTS_IN_S, default=0),
        duration_s=int_field(body, "duration_s", 1, MAX_DURATION_S, default=300),
        tiers=parse_tiers(body.get("tiers")),
        count_mode=count_mode,
        price_protection=protection,
        product_id=product_id,
    )
