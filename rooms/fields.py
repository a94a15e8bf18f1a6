"""Checked fields of request bodies and frames, shared by every parser in rooms/."""

from __future__ import annotations

from typing import Any

from rooms.errors import BadRequest


def int_field(
    obj: dict[str, Any], name: str, lo: int, hi: int, default: int | None = None, where: str = ""
) -> int:
    """``obj[name]`` as an integer in ``[lo, hi]``; the error names the field (``where`` + name)."""
    value = obj.get(name, default)
    label = f"{where}{name}"
    if value is None:
        raise BadRequest(f"{label} is required")
    # bool is an int in Python, never in the protocol.
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{label} must be an integer")
    if not lo <= value <= hi:
        raise BadRequest(f"{label} must be {lo}-{hi}")
    return value
