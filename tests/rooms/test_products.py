"""Bag product bodies, the room's pay_within_s, bag buys and pins from the bag: pure parsing rules."""

from __future__ import annotations

import pytest

from rooms.commands import BuyCommand, CommandError, parse_command
from rooms.errors import BadRequest
from rooms.ids import parse_new_room_id
from rooms.pins import parse_pin
from rooms.products import DEFAULT_LIMIT_PER_USER, parse_product_put
from rooms.room import parse_pay_within_s

MUG = {"title": " Panda mug ", "list_price_cents": 3000, "stock": 10}
TIERS = [{"at": 0, "price_cents": 2500}]


def test_a_product_gets_its_defaults_and_keeps_its_fixed_fields_apart_from_stock() -> None:
    spec = parse_product_put("mug", MUG)
    assert (spec.title, spec.limit_per_user, spec.stock, spec.image_url) == (
        "Panda mug",
        DEFAULT_LIMIT_PER_USER,
        10,
        None,
    )
    assert spec.fixed_fields() == {
        "id": "mug",
        "title": "Panda mug",
        "list_price_cents": 3000,
        "limit_per_user": 5,
    }
    with_image = parse_product_put("mug", {**MUG, "image_url": "/static/img/mug.svg", "stock": 0})
    assert with_image.fixed_fields()["image_url"] == "/static/img/mug.svg" and with_image.stock == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**MUG, "stock": -1}, "stock"),
        ({**MUG, "stock": 1.5}, "stock"),
        ({**MUG, "stock": True}, "stock"),
        ({**MUG, "limit_per_user": 101}, "limit_per_user"),
        ({**MUG, "list_price_cents": "3000"}, "list_price_cents"),
        ({**MUG, "title": "a\nb"}, "title"),
        ({**MUG, "title": "x" * 101}, "title"),
        ({**MUG, "image_url": "data:text/html,hi"}, "image_url"),
        ({**MUG, "id": "mug"}, "id"),
        ({"title": "Mug", "stock": 1}, "list_price_cents"),
    ],
)
def test_a_bad_product_is_refused_naming_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(BadRequest, match=field):
        parse_product_put("mug", body)


def test_pay_within_s_is_optional_and_bounded() -> None:
    assert parse_pay_within_s({"title": "x"}) is None
    assert parse_pay_within_s({"title": "x", "pay_within_s": 0}) == 0
    assert parse_pay_within_s({"title": "x", "pay_within_s": 86_400}) == 86_400
    for bad in (-1, 86_401, "60", 1.0, True):
        with pytest.raises(BadRequest, match="pay_within_s"):
            parse_pay_within_s({"title": "x", "pay_within_s": bad})


def test_a_buy_names_a_pin_or_a_product_never_both() -> None:
    assert parse_command('{"t":"buy","id":"b1","product":"mug","qty":2}') == BuyCommand(
        "b1", None, 2, product="mug"
    )
    assert parse_command('{"t":"buy","id":"b1","pin":"p1","qty":1}') == BuyCommand("b1", "p1", 1)
    for frame in ('{"t":"buy","id":"b1","qty":1}', '{"t":"buy","id":"b1","pin":"p1","product":"m","qty":1}'):
        with pytest.raises(CommandError) as err:
            parse_command(frame)
        assert err.value.code == "bad_request" and err.value.request_id == "b1"
    with pytest.raises(CommandError, match="product"):
        parse_command('{"t":"buy","id":"b1","product":"no spaces","qty":1}')


def test_a_pin_is_made_from_an_inline_product_or_a_bag_product() -> None:
    spec = parse_pin({"product_id": "mug", "stock": 5, "tiers": TIERS})
    assert (spec.product, spec.product_id) == (None, "mug")
    spec = parse_pin(
        {"product": {"id": "mug", "title": "Mug", "list_price_cents": 1}, "stock": 5, "tiers": TIERS}
    )
    assert spec.product is not None and spec.product_id is None
    with pytest.raises(BadRequest, match="either"):
        parse_pin(
            {
                "product": {"id": "m", "title": "M", "list_price_cents": 1},
                "product_id": "m",
                "stock": 1,
                "tiers": TIERS,
            }
        )
    with pytest.raises(BadRequest, match="product"):
        parse_pin({"stock": 1, "tiers": TIERS})


def test_the_room_id_me_is_reserved() -> None:
    assert parse_new_room_id("mei") == "mei"
    with pytest.raises(BadRequest, match="reserved"):
        parse_new_room_id("me")
