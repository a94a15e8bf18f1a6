"""Tokens for the bots: HS256 JWTs with the contract's claims (sub, name, role, room, exp).

Signed here with ``hmac`` rather than PyJWT: a swarm mints thousands, and PyJWT
warns about short development secrets, which a load test has no business
repeating thousands of times.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def mint(
    secret: str,
    *,
    sub: str,
    name: str,
    role: str = "viewer",
    room: str | None = None,
    ttl_s: int = 6 * 3600,
    now_s: float | None = None,
) -> str:
    """A token the server accepts when it was started with the same ``secret``."""
    now = time.time() if now_s is None else now_s
    claims: dict[str, Any] = {"sub": sub, "name": name, "role": role, "exp": int(now + ttl_s)}
    if room is not None:
        claims["room"] = room
    signing_input = _HEADER + b"." + _b64(orjson.dumps(claims))
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64(signature)).decode()


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a token, without checking its signature (to learn a given token's room)."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, orjson.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}
