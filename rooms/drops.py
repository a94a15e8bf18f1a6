"""Drops: coupons and red envelopes that the first ``count`` viewers grab (contract §10).

The rules as plain functions: what a drop request may ask for (``parse_drop``), and how an
envelope's next amount is cut from what is left (``lucky_cut``). grab.lua applies the same cut
inside Redis, atomically with the pool; this twin is what the tests hold the script to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from rooms.errors import BadRequest
from rooms.fields import int_field

MAX_COUNT = 100_000
MIN_DURATION_S, MAX_DURATION_S = 5, 3_600
MAX_COUPON_VALUE_CENTS = 1_000_000
MAX_MIN_SPEND_CENTS = 100_000_000
MIN_VALID_S, MAX_VALID_S, DEFAULT_VALID_S = 60, 30 * 86_400, 3_600
MAX_ENVELOPE_TOTAL_CENTS = 1_000_000_000
# d-<8 hex>, made by the server; a coupon is its drop's id and the grab's number.
DROP_ID_RE = re.compile(r"d-[0-9a-f]{8}")
COUPON_ID_RE = re.compile(r"d-[0-9a-f]{8}-[0-9]{1,6}")


class DropKind(StrEnum):
    COUPON = "coupon"
    ENVELOPE = "envelope"


class DropTask(StrEnum):
    """What a viewer must have done to grab: nothing, follow the host, or post in this show."""

    NONE = "none"
    FOLLOW = "follow"
    CHAT = "chat"


TASK_WORDS = {DropTask.FOLLOW: "follow the host first", DropTask.CHAT: "post in the chat first"}


@dataclass(frozen=True, slots=True)
class DropSpec:
    kind: DropKind
    count: int
    duration_s: int
    task: DropTask
    value_cents: int = 0  # coupon
    min_spend_cents: int = 0  # coupon
    valid_s: int = 0  # coupon: how long a grabbed coupon stays usable
    total_cents: int = 0  # envelope


def parse_drop(body: object) -> DropSpec:
    """A ``POST /api/rooms/{room}/drops`` body as a ``DropSpec``, or ``BadRequest`` naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    raw_kind = body.get("kind")
    if raw_kind not in (DropKind.COUPON.value, DropKind.ENVELOPE.value):
        raise BadRequest("kind must be coupon or envelope")
    raw_task = body.get("task", DropTask.NONE.value)
    if raw_task not in {t.value for t in DropTask}:
        raise BadRequest("task must be none, follow or chat")
    kind, task = DropKind(raw_kind), DropTask(raw_task)
    count = int_field(body, "count", 1, MAX_COUNT)
    duration_s = int_field(body, "duration_s", MIN_DURATION_S, MAX_DURATION_S)
    if kind is DropKind.COUPON:
        for name in ("total_cents",):
            if name in body:
                raise BadRequest(f"{name} is for envelopes")
        return DropSpec(
            kind,
            count,
            duration_s,
            task,
            value_cents=int_field(body, "value_cents", 1, MAX_COUPON_VALUE_CENTS),
            min_spend_cents=int_field(body, "min_spend_cents", 0, MAX_MIN_SPEND_CENTS, default=0),
            valid_s=int_field(body, "valid_s", MIN_VALID_S, MAX_VALID_S, default=DEFAULT_VALID_S),
        )
    for name in ("value_cents", "min_spend_cents", "valid_s"):
        if name in body:
            raise BadRequest(f"{name} is for coupons")
    total = int_field(body, "total_cents", 1, MAX_ENVELOPE_TOTAL_CENTS)
    if total < count:
        raise BadRequest("total_cents must be at least count: every envelope holds at least 1 cent")
    return DropSpec(kind, count, duration_s, task, total_cents=total)


def lucky_cut(left_cents: int, left_count: int, rand: int) -> int:
    """The next envelope's cents, from what is left and a random ``rand`` >= 0 drawn at the grab.

    WeChat's "lucky" split: uniform in 1 .. twice the fair share, capped so that every envelope still
    to come gets at least a cent; the last one takes what is left. Nothing is decided before the
    grab, so no grabber's amount (the last one's included) is known in advance.
    """
    if left_count <= 1:
        return left_cents
    most = max(1, min(2 * left_cents // left_count, left_cents - (left_count - 1)))
    return 1 + rand % most
