"""Events a room sends to its viewers, as small frozen dataclasses.

Durable events (``DURABLE``) get their ``seq`` inside Redis, in the same Lua step
that decides them: Python encodes the event without ``seq`` and the script splices
``"seq":N`` in front. Only ``chat`` is built here; the other durable events are
built by the Lua script that decides them (live/lua/). Ephemeral events carry no ``seq``
and are encoded by the hub once per frame, never once per viewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from rooms.errors import RoomError


@dataclass(frozen=True, slots=True)
class UserRef:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Chat:
    user: UserRef
    text: str
    ts_ms: int
    t: Literal["chat"] = "chat"


@dataclass(frozen=True, slots=True)
class Viewers:
    n: int
    t: Literal["viewers"] = "viewers"


@dataclass(frozen=True, slots=True)
class Likes:
    total: int
    t: Literal["likes"] = "likes"


@dataclass(frozen=True, slots=True)
class Stock:
    pin: str
    left: int
    t: Literal["stock"] = "stock"


@dataclass(frozen=True, slots=True)
class BagStock:
    """Units left of bag products whose count changed (one product per event here)."""

    left: dict[str, int]
    t: Literal["bag_stock"] = "bag_stock"


@dataclass(frozen=True, slots=True)
class Progress:
    pin: str
    count: int
    next_at: int | None
    t: Literal["progress"] = "progress"


@dataclass(frozen=True, slots=True)
class DropLeft:
    drop: str
    left: int
    t: Literal["drop_left"] = "drop_left"


@dataclass(frozen=True, slots=True)
class Error:
    code: str
    message: str
    id: str | None = None
    retry_after_ms: int | None = None
    fields: dict[str, int | str] | None = None  # what the error carries beyond these (too_low: min_cents)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": "error", "code": self.code, "message": self.message}
        if self.id is not None:
            out["id"] = self.id
        if self.retry_after_ms is not None:
            out["retry_after_ms"] = self.retry_after_ms
        if self.fields:
            out.update(self.fields)
        return out


def error_frame(err: RoomError, request_id: str | None = None) -> str:
    """The one-event frame telling a client of ``err`` (room sockets and /ws/me alike)."""
    event = Error(err.code, err.message, request_id, err.retry_after_ms, err.fields or None)
    return "[" + encode_event(event).decode() + "]"


DURABLE = frozenset(
    {
        "chat",
        "chat_deleted",
        "pin",
        "price",
        "sold_out",
        "pin_end",
        "room",
        "mod",
        "product",
        "drop",
        "drop_end",
        "auction",
        "bid",
        "auction_end",
    }
)


def encode_event(event: object) -> bytes:
    """Encode one event as a JSON object (no ``seq``: durable ones get it in Redis)."""
    to_dict = getattr(event, "to_dict", None)
    return orjson.dumps(to_dict() if to_dict is not None else event)
