"""The drop request rules (rooms/drops.py parse_drop): what a host may ask, and the field a refusal names."""

from __future__ import annotations

from typing import Any

import pytest

from rooms.drops import DropKind, DropTask, parse_drop
from rooms.errors import BadRequest

COUPON: dict[str, Any] = {
    "kind": "coupon",
    "count": 100,
    "value_cents": 500,
    "min_spend_cents": 2000,
    "valid_s": 3600,
    "duration_s": 60,
    "task": "none",
}
ENVELOPE: dict[str, Any] = {
    "kind": "envelope",
    "count": 50,
    "total_cents": 10000,
    "duration_s": 30,
    "task": "follow",
}


def test_the_contracts_examples_parse() -> None:
    coupon = parse_drop(COUPON)
    assert coupon.kind is DropKind.COUPON and coupon.value_cents == 500 and coupon.min_spend_cents == 2000
    envelope = parse_drop(ENVELOPE)
    assert (
        envelope.kind is DropKind.ENVELOPE
        and envelope.total_cents == 10000
        and envelope.task is DropTask.FOLLOW
    )


def test_defaults_are_no_task_no_minimum_and_an_hour_of_validity() -> None:
    spec = parse_drop({"kind": "coupon", "count": 1, "value_cents": 1, "duration_s": 5})
    assert spec.task is DropTask.NONE and spec.min_spend_cents == 0 and spec.valid_s == 3600


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "voucher"}, "kind"),
        ({"task": "share"}, "task"),
        ({"count": 0}, "count"),
        ({"count": 100_001}, "count"),
        ({"count": True}, "count"),
        ({"duration_s": 4}, "duration_s"),
        ({"duration_s": 3601}, "duration_s"),
        ({"value_cents": 0}, "value_cents"),
        ({"valid_s": 59}, "valid_s"),
        ({"min_spend_cents": -1}, "min_spend_cents"),
        ({"total_cents": 100}, "total_cents"),
    ],
)
def test_a_bad_coupon_field_is_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest, match=field):
        parse_drop({**COUPON, **change})


def test_an_envelope_needs_a_cent_for_each_and_takes_no_coupon_fields() -> None:
    with pytest.raises(BadRequest, match="at least count"):
        parse_drop({**ENVELOPE, "total_cents": 49})
    assert parse_drop({**ENVELOPE, "total_cents": 50}).total_cents == 50
    with pytest.raises(BadRequest, match="value_cents"):
        parse_drop({**ENVELOPE, "value_cents": 5})
    with pytest.raises(BadRequest, match="total_cents"):
        parse_drop({**ENVELOPE, "total_cents": None})
    with pytest.raises(BadRequest, match="JSON object"):
        parse_drop([ENVELOPE])
