"""rooms.text: the shared rule for text others see, table-driven."""

from __future__ import annotations

import pytest

from rooms.errors import BadRequest
from rooms.text import BIDI_CONTROLS, clean_text

FAMILY = "👨\u200d👩\u200d👧"
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"

# (given, shown, bare)
ACCEPTED = [
    ("hello", "hello", "hello"),
    ("  hello  ", "hello", "hello"),
    ("h\u200bi", "hi", "hi"),  # zero-width space: removed
    ("\ufeffhi", "hi", "hi"),  # BOM / zero-width no-break space
    ("h\u2060i", "hi", "hi"),  # word joiner
    ("h\u00adi", "hi", "hi"),  # soft hyphen
    ("h\u2061\u2062\u2063\u2064i", "hi", "hi"),  # invisible operators
    ("h\u3164i", "hi", "hi"),  # Hangul filler: a letter by category, drawn as nothing
    ("hi\U000e0041\U000e0042", "hi", "hi"),  # tag characters outside a flag: hidden text
    ("\u200b hi \u200b", "hi", "hi"),  # trimmed after removing
    (FAMILY, FAMILY, "👨👩👧"),  # ZWJ kept for emoji sequences
    ("h\u200di", "h\u200di", "hi"),  # ... but not compared
    ("❤\ufe0f", "❤\ufe0f", "❤"),  # variation selector kept
    ("می\u200cخواهم", "می\u200cخواهم", "میخواهم"),  # ZWNJ: Persian spelling
    ("שלום\u200f!", "שלום\u200f!", "שלום!"),  # RLM places punctuation; it cannot reorder words
    (SCOTLAND, SCOTLAND, "\U0001f3f4"),  # an emoji tag sequence keeps its tags
    ("\u0600\u0661\u0662", "\u0600\u0661\u0662", "\u0600\u0661\u0662"),  # a visible Cf sign stays
    ("熊猫", "熊猫", "熊猫"),
]


@pytest.mark.parametrize(("given", "shown", "bare"), ACCEPTED)
def test_accepted(given: str, shown: str, bare: str) -> None:
    cleaned = clean_text(given)
    assert (cleaned.text, cleaned.bare) == (shown, bare)


REFUSED = [
    ("", "text is empty"),
    ("   ", "text is empty"),
    ("\u200b", "text has no visible characters"),
    ("\u200b\u200c\u200d\ufeff", "text has no visible characters"),
    ("\u200d", "text has no visible characters"),  # a kept joiner alone is still nothing
    ("\ufe0f\ufe0f", "text has no visible characters"),
    ("\u3164", "text has no visible characters"),
    (" \u2060 ", "text has no visible characters"),
    ("a\u202eb", "text contains bidi control characters"),  # right-to-left override
    ("a\u202ab", "text contains bidi control characters"),  # left-to-right embedding
    ("a\u202cb", "text contains bidi control characters"),  # pop directional formatting
    ("a\u2066b\u2069", "text contains bidi control characters"),  # isolate
    ("a\u2068b", "text contains bidi control characters"),  # first strong isolate
    ("a\nb", "text contains control characters"),
    ("a\x00b", "text contains control characters"),
    ("a\u2028b", "text contains control characters"),  # line separator
    ("a\u2029b", "text contains control characters"),  # paragraph separator
]


@pytest.mark.parametrize(("given", "message"), REFUSED)
def test_refused(given: str, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        clean_text(given)
    assert err.value.message == message


@pytest.mark.parametrize("control", sorted(BIDI_CONTROLS))
def test_every_bidi_control_is_refused(control: str) -> None:
    with pytest.raises(BadRequest, match="bidi"):
        clean_text(f"gpj{control}.exe")


def test_the_message_names_what_was_checked() -> None:
    with pytest.raises(BadRequest, match=r"^name has no visible characters$"):
        clean_text("\u200b", "name")
