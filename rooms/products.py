"""The room's bag (contract §6): products with their own stock, sold at list price while live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rooms.errors import BadRequest
from rooms.fields import int_field
from rooms.pins import MAX_PRICE_CENTS, MAX_STOCK, parse_image_url, parse_title

DEFAULT_LIMIT_PER_USER = 5
MAX_LIMIT_PER_USER = 100
MAX_PRODUCTS = 100  # per bag: hello carries the whole bag
_FIELDS = frozenset({"title", "image_url", "list_price_cents", "stock", "limit_per_user"})


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """A validated ``PUT .../products/{id}`` body."""

    id: str
    title: str
    list_price_cents: int
    stock: int  # the product's total units
    limit_per_user: int
    image_url: str | None = None

    def fixed_fields(self) -> dict[str, Any]:
        """What does not move with sales (the stock is counted apart, atomically)."""
        out: dict[str, Any] = {"id": self.id, "title": self.title}
        if self.image_url is not None:
            out["image_url"] = self.image_url
        out["list_price_cents"] = self.list_price_cents
        out["limit_per_user"] = self.limit_per_user
        return out


def parse_product_put(product_id: str, body: object) -> ProductSpec:
    """Validate a bag product; every error names the field."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    extra = sorted(set(body) - _FIELDS)
    if extra:
        raise BadRequest(f"unknown field {extra[0]}")
    return ProductSpec(
        id=product_id,
        title=parse_title(body.get("title"), ""),
        list_price_cents=int_field(body, "list_price_cents", 0, MAX_PRICE_CENTS),
        stock=int_field(body, "stock", 0, MAX_STOCK),
        limit_per_user=int_field(body, "limit_per_user", 1, MAX_LIMIT_PER_USER, DEFAULT_LIMIT_PER_USER),
        image_url=parse_image_url(body.get("image_url"), ""),
    )
