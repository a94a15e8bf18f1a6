import pytest

from rooms.errors import BadRequest
from rooms.ids import parse_item_id, parse_room_id, parse_user_id


def test_room_ids() -> None:
    assert parse_room_id("demo-1") == "demo-1"
    for bad in ("", "Demo", "a" * 41, "a_b", "a/b", None, 5):
        with pytest.raises(BadRequest):
            parse_room_id(bad)


def test_user_and_item_ids() -> None:
    assert parse_user_id("Bob_1-x") == "Bob_1-x"
    assert parse_item_id("mug-1", "product.id") == "mug-1"
    for bad in ("", "a b", "x" * 65, "é"):
        with pytest.raises(BadRequest):
            parse_user_id(bad)
        with pytest.raises(BadRequest, match=r"product\.id"):
            parse_item_id(bad, "product.id")
