"""Chat text rules: trimmed, 1-200 characters, no control characters."""

from __future__ import annotations

import hashlib
import unicodedata

from rooms.errors import BadRequest, TooLong

MAX_CHAT_CHARS = 200
# Line and paragraph separators break the one-line bullet screen as surely as "\n".
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})


def normalize_chat_text(text: object) -> str:
    """Return the text as it will be posted, or raise the contract's error."""
    if not isinstance(text, str):
        raise BadRequest("text must be a string")
    trimmed = text.strip()
    if not trimmed:
        raise BadRequest("text is empty")
    if len(trimmed) > MAX_CHAT_CHARS:
        raise TooLong(f"text is {len(trimmed)} characters; at most {MAX_CHAT_CHARS}")
    for ch in trimmed:
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            raise BadRequest("text contains control characters")
    return trimmed


def duplicate_digest(text: str) -> str:
    """A short digest of normalized text, so Redis stores no copy of the text per user."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
