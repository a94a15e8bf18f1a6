"""Tokens for tests and benchmarks, signed with a secret that every kit server is started with."""

from __future__ import annotations

import re

from live.auth import make_token

SECRET = "test-secret-0123456789-abcdefghijklmnop"


def token_for(
    secret: str, role: str = "viewer", room: str | None = None, name: str = "Test", sub: str | None = None
) -> str:
    """A one-hour token; the user id defaults to the name's id-safe letters."""
    sub = sub or re.sub(r"[^A-Za-z0-9_-]", "", name.lower()) or "user"
    return make_token(secret, sub=sub, name=name, role=role, room=room, ttl_s=3600)
