import copy
from typing import Any

import pytest

from rooms.errors import BadRequest
from rooms.pins import CountMode, Tier, parse_pin

GOOD: dict[str, Any] = {
    "product": {
        "id": "mug-1",
        "title": "Panda mug",
        "image_url": "https://x.test/m.png",
        "list_price_cents": 3000,
    },
    "stock": 100,
    "limit_per_user": 2,
    "starts_in_s": 10,
    "duration_s": 120,
    "tiers": [
        {"at": 0, "price_cents": 2500},
        {"at": 50, "price_cents": 2000},
        {"at": 200, "price_cents": 1500},
    ],
    "count": "posters",
    "price_protection": True,
}


def test_contract_example_parses() -> None:
    spec = parse_pin(GOOD)
    assert spec.stock == 100 and spec.limit_per_user == 2
    assert spec.tiers == (Tier(0, 2500), Tier(50, 2000), Tier(200, 1500))
    assert spec.count_mode is CountMode.POSTERS and spec.price_protection
    assert spec.starts_at_ms(1_000) == 11_000 and spec.ends_at_ms(1_000) == 131_000


def test_defaults() -> None:
    spec = parse_pin({"product": GOOD["product"], "stock": 5, "tiers": [{"at": 0, "price_cents": 100}]})
    assert (spec.limit_per_user, spec.starts_in_s, spec.duration_s) == (1, 0, 300)
    assert spec.count_mode is CountMode.POSTERS and not spec.price_protection and spec.id is None


def _with(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(GOOD)
    target = body
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if value is KeyError:
        del target[last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("stock", 0, "stock"),
        ("stock", "10", "stock"),
        ("stock", KeyError, "stock"),
        ("stock", True, "stock"),
        ("stock", 10**7, "stock"),
        ("limit_per_user", 0, "limit_per_user"),
        ("starts_in_s", -1, "starts_in_s"),
        ("duration_s", 0, "duration_s"),
        ("count", "likes", "count"),
        ("price_protection", "yes", "price_protection"),
        ("id", "bad id", "id"),
        ("product", KeyError, "product"),
        ("product", "mug", "product"),
        ("product.id", "m g", "product.id"),
        ("product.title", "", "product.title"),
        ("product.title", "x" * 101, "product.title"),
        ("product.image_url", "javascript:alert(1)", "product.image_url"),
        ("product.image_url", 5, "product.image_url"),
        ("product.list_price_cents", -1, "product.list_price_cents"),
        ("product.list_price_cents", 1.5, "product.list_price_cents"),
        ("product.colour", "red", "product.colour"),
        ("tiers", [], "tiers"),
        ("tiers", "cheap", "tiers"),
        ("tiers", [{"at": i * 10, "price_cents": 100} for i in range(11)], "tiers"),
        ("tiers.0", {"at": 5, "price_cents": 100}, "tiers[0].at"),
        ("tiers.1", {"at": 0, "price_cents": 2000}, "tiers[1].at"),
        ("tiers.2", {"at": 40, "price_cents": 1500}, "tiers[2].at"),
        ("tiers.1", {"at": 50, "price_cents": 2600}, "tiers[1].price_cents"),
        ("tiers.1", {"at": 50}, "tiers[1].price_cents"),
        ("tiers.1", {"at": "50", "price_cents": 2000}, "tiers[1].at"),
        ("tiers.1", [50, 2000], "tiers[1]"),
        ("extra", 1, "extra"),
    ],
)
def test_every_invalid_field_is_named(path: str, value: Any, field: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_pin(_with(path, value))
    assert field in info.value.message


def test_body_must_be_an_object() -> None:
    with pytest.raises(BadRequest):
        parse_pin([GOOD])
