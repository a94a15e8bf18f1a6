"""A room's status and its checked transitions, and the room's title rule."""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from rooms.errors import BadRequest, Conflict

MAX_TITLE_CHARS = 100
MAX_PAY_WITHIN_S = 86_400


class RoomStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


# start: scheduled -> live; stop: scheduled|live -> ended. Repeating a transition is a no-op
# (a host's retry must not fail); an ended show stays ended: viewers were told it is over.
_TARGETS = {
    "start": {RoomStatus.SCHEDULED: RoomStatus.LIVE, RoomStatus.LIVE: RoomStatus.LIVE},
    "stop": {
        RoomStatus.SCHEDULED: RoomStatus.ENDED,
        RoomStatus.LIVE: RoomStatus.ENDED,
        RoomStatus.ENDED: RoomStatus.ENDED,
    },
}


def transition(current: RoomStatus, verb: str) -> RoomStatus:
    """The status after ``verb`` ("start" or "stop"), or ``Conflict`` if not allowed."""
    target = _TARGETS[verb].get(current)
    if target is None:
        raise Conflict(f"cannot {verb} a room that is {current.value}")
    return target


def parse_title(body: object) -> str:
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    title = body.get("title")
    if not isinstance(title, str):
        raise BadRequest("title must be a string")
    title = title.strip()
    if not 1 <= len(title) <= MAX_TITLE_CHARS:
        raise BadRequest(f"title must be 1-{MAX_TITLE_CHARS} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in title):
        raise BadRequest("title contains control characters")
    return title


def parse_pay_within_s(body: object) -> int | None:
    """The room's time to pay (contract §7), or None when the body leaves it as it is."""
    if not isinstance(body, dict) or body.get("pay_within_s") is None:
        return None
    value = body["pay_within_s"]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PAY_WITHIN_S:
        raise BadRequest(f"pay_within_s must be an integer 0-{MAX_PAY_WITHIN_S}")
    return value
