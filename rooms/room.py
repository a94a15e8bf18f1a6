"""A room's status and its checked transitions, and the room's title rule."""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from rooms.errors import BadRequest, Conflict

MAX_TITLE_CHARS = 100


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
