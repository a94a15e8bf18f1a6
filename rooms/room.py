"""A room's status and its checked transitions, and the room's title rule."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from rooms.errors import BadRequest, Conflict
from rooms.fields import int_field
from rooms.text import clean_text

MAX_TITLE_CHARS = 100
MAX_PAY_WITHIN_S = 86_400
MAX_DESCRIPTION_CHARS = 500
MAX_COMMISSION_BP = 5_000  # 50 %: a share link earning more than half the sale is a typo
MAX_STARTS_AT_MS = 253_402_300_799_999  # 9999-12-31: past it is a unit mistake (seconds x 1000 x 1000)
CLEAR = "clear"  # RoomSettings.starts_at_ms: the show's planned start is withdrawn


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
    return _title(body.get("title"))


def _title(title: object) -> str:
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


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """What ``PUT /api/rooms/{room}`` sets; None leaves a field as it is (a new room takes the defaults)."""

    title: str | None = None
    pay_within_s: int | None = None
    starts_at_ms: int | str | None = None  # epoch ms, or CLEAR
    description: str | None = None
    commission_bp: int | None = None


def parse_description(value: object) -> str:
    """0-500 characters of what the show is about: the chat rule per line, and lines kept."""
    if not isinstance(value, str):
        raise BadRequest(f"description must be a string of 0-{MAX_DESCRIPTION_CHARS} characters")
    lines = [line.strip() for line in value.strip().replace("\r\n", "\n").split("\n")]
    text = "\n".join(clean_text(line, "description").text if line else "" for line in lines)
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise BadRequest(f"description is {len(text)} characters; at most {MAX_DESCRIPTION_CHARS}")
    return text


def parse_room_settings(body: object) -> RoomSettings:
    """The body of ``PUT /api/rooms/{room}``, every field checked, or ``BadRequest``."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    starts_at: int | str | None = None
    if "starts_at_ms" in body:
        starts_at = (
            CLEAR if body["starts_at_ms"] is None else int_field(body, "starts_at_ms", 0, MAX_STARTS_AT_MS)
        )
    return RoomSettings(
        title=None if body.get("title") is None else _title(body["title"]),
        pay_within_s=parse_pay_within_s(body),
        starts_at_ms=starts_at,
        description=None if body.get("description") is None else parse_description(body["description"]),
        commission_bp=None
        if body.get("commission_bp") is None
        else int_field(body, "commission_bp", 0, MAX_COMMISSION_BP),
    )
