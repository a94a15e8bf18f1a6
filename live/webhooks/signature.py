"""The ``Live-Signature`` header: ``t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``.

Stripe's scheme: the timestamp is signed with the body so a captured request cannot be replayed
later than the receiver's tolerance, and a receiver accepts any of several ``v1`` values (room for
a secret rotation that signs with both keys). Pure: the time is an argument.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Live-Signature"
DEFAULT_TOLERANCE_S = 300


def _digest(secret: str, body: bytes, t: int) -> str:
    return hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, t: int) -> str:
    """The header value for ``body`` sent at unix second ``t``."""
    return f"t={t},v1={_digest(secret, body, t)}"


def verify(
    secret: str, header: str, body: bytes, now_s: float, tolerance_s: float = DEFAULT_TOLERANCE_S
) -> bool:
    """True when ``header`` signs ``body`` under ``secret`` and its ``t`` is within ``tolerance_s`` of now.

    What a receiver runs: a malformed header is simply not valid; every ``v1`` is compared in
    constant time; other schemes (a future ``v2``) are ignored.
    """
    t: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            if not value.isdigit():
                return False
            t = int(value)
        elif name == "v1":
            candidates.append(value)
    if t is None or not candidates or abs(now_s - t) > tolerance_s:
        return False
    expected = _digest(secret, body, t)
    # Every candidate is compared (no early exit) so the time taken says nothing about which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    return matched
