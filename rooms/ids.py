"""Identifiers and their shapes, as the contract defines them."""

from __future__ import annotations

import re
from typing import NewType

from rooms.errors import BadRequest

RoomId = NewType("RoomId", str)
UserId = NewType("UserId", str)
PinId = NewType("PinId", str)

ROOM_ID_RE = re.compile(r"[a-z0-9-]{1,40}")
USER_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Pin and product ids share the user-id alphabet.
ITEM_ID_RE = USER_ID_RE


def parse_room_id(value: object) -> RoomId:
    """Return ``value`` as a room id, or raise ``BadRequest``."""
    if not isinstance(value, str) or not ROOM_ID_RE.fullmatch(value):
        raise BadRequest("room id must be 1-40 of [a-z0-9-]")
    return RoomId(value)


# Paths that a room id would shadow: /ws/me is the personal channel, not the room "me".
RESERVED_ROOM_IDS = frozenset({"me"})


def parse_new_room_id(value: object) -> RoomId:
    """A room id a new room may take (``parse_room_id``, minus the reserved ones)."""
    room = parse_room_id(value)
    if room in RESERVED_ROOM_IDS:
        raise BadRequest(f"room id {room} is reserved")
    return room


def parse_user_id(value: object, field: str = "user") -> UserId:
    if not isinstance(value, str) or not USER_ID_RE.fullmatch(value):
        raise BadRequest(f"{field} must be 1-64 of [A-Za-z0-9_-]")
    return UserId(value)


def parse_item_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not ITEM_ID_RE.fullmatch(value):
        raise BadRequest(f"{field} must be 1-64 of [A-Za-z0-9_-]")
    return value
