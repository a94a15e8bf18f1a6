"""Chat text rules: trimmed, 1-200 characters, nothing hidden or reordered (rooms/text.py)."""

from __future__ import annotations

import hashlib

from rooms.errors import BadRequest, TooLong
from rooms.text import clean_text

MAX_CHAT_CHARS = 200


def normalize_chat_text(text: object) -> str:
    """Return the text as it will be posted, or raise the contract's error."""
    if not isinstance(text, str):
        raise BadRequest("text must be a string")
    shown = clean_text(text).text
    if len(shown) > MAX_CHAT_CHARS:
        raise TooLong(f"text is {len(shown)} characters; at most {MAX_CHAT_CHARS}")
    return shown


def duplicate_digest(text: str) -> str:
    """A short digest of posted text, so Redis stores no copy of the text per user.

    Taken over the text with every invisible character removed (joiners and variation selectors
    too), so "hi" and "h\u200di" are the same line to the duplicate check.
    """
    return hashlib.blake2b(clean_text(text).bare.encode(), digest_size=8).hexdigest()
