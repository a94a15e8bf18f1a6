"""Moderation actions as the host or a moderator sends them over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rooms.errors import BadRequest
from rooms.ids import UserId, parse_user_id

MAX_MUTE_S = 7 * 24 * 3600
MAX_SLOW_S = 3600


class ModAction(StrEnum):
    MUTE = "mute"
    UNMUTE = "unmute"
    BAN = "ban"
    UNBAN = "unban"
    DELETE = "delete"
    SLOW = "slow"


@dataclass(frozen=True, slots=True)
class ModerationCommand:
    action: ModAction
    user: UserId | None = None
    seconds: int | None = None
    seq: int | None = None


def _int(body: dict[str, object], name: str, lo: int, hi: int) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{name} must be an integer")
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be {lo}-{hi}")
    return value


def parse_moderation(body: object) -> ModerationCommand:
    """Validate a moderation request body."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    try:
        action = ModAction(body.get("action"))  # type: ignore[arg-type]
    except ValueError:
        raise BadRequest("action must be one of mute, unmute, ban, unban, delete, slow") from None
    if action is ModAction.MUTE:
        return ModerationCommand(
            action, parse_user_id(body.get("user")), _int(body, "seconds", 1, MAX_MUTE_S)
        )
    if action in (ModAction.UNMUTE, ModAction.BAN, ModAction.UNBAN):
        return ModerationCommand(action, parse_user_id(body.get("user")))
    if action is ModAction.DELETE:
        return ModerationCommand(action, seq=_int(body, "seq", 1, 2**53))
    return ModerationCommand(action, seconds=_int(body, "seconds", 0, MAX_SLOW_S))
