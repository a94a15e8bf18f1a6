"""The one rule for text other people see (chat lines and display names): nothing hidden, nothing reordered.

Unicode has characters that draw nothing (zero-width space, word joiner, BOM, soft hyphen, tag
characters...) and characters that reorder what follows (bidi overrides, embeddings, isolates: an
U+202E can make "gpj.exe" read "exe.jpg"). ``clean_text`` decides, for one piece of text:

- refused: control characters (a line must stay one line) and bidi overrides, embeddings and
  isolates (U+202A-202E, U+2066-2069), which no chat line or name needs;
- kept: the invisible characters that carry meaning: ZWJ (U+200D: emoji sequences such as
  👨‍👩‍👧, and Indic scripts), ZWNJ (U+200C: Persian spelling, typed from the Persian keyboard),
  the bidi marks LRM, RLM and ALM (they place punctuation in mixed right-to-left text but cannot
  reorder words), variation selectors (❤️, not ❤), Mongolian selectors, CGJ, and the tag
  characters of an emoji tag sequence (the flags of England, Scotland, Wales);
- removed: every other format (Cf) or default-ignorable character;
- refused: what is left empty once every invisible character (kept ones too) is removed.

The removed characters are stripped from the text that is shown too, not only from what is
compared: what every viewer sees is then exactly what was checked, the length bound counts what
is shown, and no zero-width watermark or tag-smuggled payload rides along in a line. The kept
ones stay shown (stripping them would break emoji and spelling), so ``bare`` drops them as well
for comparisons: "hi" and "h\u200di" are the same line to the duplicate check.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rooms.errors import BadRequest

# Overrides and embeddings (LRE, RLE, PDF, LRO, RLO) and isolates (LRI, RLI, FSI, PDI).
BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))

# Invisible, but meaningful: shown as typed, dropped only from ``bare``.
MEANINGFUL_INVISIBLE = frozenset(
    map(
        chr,
        [
            0x034F,  # combining grapheme joiner
            0x061C,  # Arabic letter mark
            *range(0x180B, 0x1810),  # Mongolian free variation selectors and vowel separator
            0x200C,  # zero-width non-joiner
            0x200D,  # zero-width joiner
            0x200E,  # left-to-right mark
            0x200F,  # right-to-left mark
            *range(0xFE00, 0xFE10),  # variation selectors 1-16
            *range(0xE0100, 0xE01F0),  # variation selectors 17-256
        ],
    )
)

# Unicode's Default_Ignorable_Code_Point that are not format characters (DerivedCoreProperties.txt):
# drawn as nothing although their category says otherwise (the Hangul fillers are Lo).
_OTHER_DEFAULT_IGNORABLE = frozenset(
    map(
        chr,
        [
            0x115F,
            0x1160,  # Hangul choseong and jungseong fillers
            0x17B4,
            0x17B5,  # Khmer inherent vowels
            0x3164,  # Hangul filler
            0xFFA0,  # halfwidth Hangul filler
            0x2065,  # reserved, between the invisible operators and the isolates
            *range(0xFFF0, 0xFFF9),  # reserved
            *range(0xE0000, 0xE1000),  # the tag block and its reserved neighbours
        ],
    )
)

# Cf characters that do draw something: the Arabic and Kaithi signs spanning the digits after them.
_VISIBLE_FORMAT = frozenset(
    map(chr, [*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD])
)

# Line and paragraph separators break a one-line chat line as surely as "\n".
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})

# Black flag, tag letters, cancel tag: the flags of England, Scotland and Wales.
_EMOJI_TAG_SEQUENCE = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")


@dataclass(frozen=True, slots=True)
class CleanText:
    """``text`` is what is shown; ``bare`` has every invisible character removed, for comparisons."""

    text: str
    bare: str


def _invisible(ch: str) -> bool:
    if ch in _OTHER_DEFAULT_IGNORABLE:
        return True
    return unicodedata.category(ch) == "Cf" and ch not in _VISIBLE_FORMAT


def clean_text(text: str, what: str = "text") -> CleanText:
    """Trim ``text``, strip its hidden characters, or raise ``BadRequest`` naming ``what``.

    Pure and total over strings; length limits are the caller's (they differ for chat and names).
    """
    shown: list[str] = []
    bare: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in BIDI_CONTROLS:
            raise BadRequest(f"{what} contains bidi control characters")
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise BadRequest(f"{what} contains control characters")
        if ch == "\U0001f3f4" and (flag := _EMOJI_TAG_SEQUENCE.match(text, i)):
            shown.append(flag.group())
            bare.append(ch)
            i = flag.end()
            continue
        if ch in MEANINGFUL_INVISIBLE:
            shown.append(ch)
        elif not _invisible(ch):
            shown.append(ch)
            bare.append(ch)
        i += 1
    cleaned = "".join(shown).strip()
    bare_text = "".join(bare).strip()
    if not bare_text:
        raise BadRequest(f"{what} is empty" if not text.strip() else f"{what} has no visible characters")
    return CleanText(cleaned, bare_text)


MAX_NAME_CHARS = 32


def clean_name(name: object) -> str:
    """A display name as others will see it: the same rule, 1-32 characters; else ``BadRequest``."""
    if not isinstance(name, str):
        raise BadRequest(f"name must be a string of 1-{MAX_NAME_CHARS} characters")
    shown = clean_text(name, "name").text
    if len(shown) > MAX_NAME_CHARS:
        raise BadRequest(f"name is {len(shown)} characters; at most {MAX_NAME_CHARS}")
    return shown
