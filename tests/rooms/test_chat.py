import pytest

from rooms.chat import MAX_CHAT_CHARS, duplicate_digest, normalize_chat_text
from rooms.errors import BadRequest, TooLong


def test_text_is_trimmed() -> None:
    assert normalize_chat_text("  hello  ") == "hello"


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_empty_text_is_bad_request(text: str) -> None:
    with pytest.raises(BadRequest):
        normalize_chat_text(text)


def test_exactly_200_is_fine_201_too_long() -> None:
    assert len(normalize_chat_text("x" * MAX_CHAT_CHARS)) == MAX_CHAT_CHARS
    with pytest.raises(TooLong):
        normalize_chat_text("x" * (MAX_CHAT_CHARS + 1))


def test_length_counts_characters_not_bytes() -> None:
    assert normalize_chat_text("熊" * 200) == "熊" * 200


@pytest.mark.parametrize("text", ["a\nb", "a\x00b", "a\x1bb", "a\u2028b", "a\x7fb"])
def test_control_characters_are_refused(text: str) -> None:
    with pytest.raises(BadRequest):
        normalize_chat_text(text)


def test_emoji_sequences_pass() -> None:
    assert normalize_chat_text("👨\u200d👩\u200d👧 🐼") == "👨\u200d👩\u200d👧 🐼"


def test_non_string_is_bad_request() -> None:
    with pytest.raises(BadRequest):
        normalize_chat_text(5)


def test_digest_tells_texts_apart() -> None:
    assert duplicate_digest("a") == duplicate_digest("a")
    assert duplicate_digest("a") != duplicate_digest("b")


@pytest.mark.parametrize("text", ["\u200b", "\u200b\ufeff\u2060", " \u200b ", "\u3164"])
def test_an_invisible_line_is_bad_request(text: str) -> None:
    with pytest.raises(BadRequest, match="no visible characters"):
        normalize_chat_text(text)


@pytest.mark.parametrize("text", ["a\u202eb", "\u2066a\u2069", "a\u202ab\u202c"])
def test_bidi_controls_are_refused(text: str) -> None:
    with pytest.raises(BadRequest, match=r"^text contains bidi control characters$"):
        normalize_chat_text(text)


def test_zero_width_characters_are_removed_from_the_posted_text() -> None:
    assert normalize_chat_text("h\u200bi\ufeff") == "hi"


def test_invisible_characters_do_not_count_toward_the_length() -> None:
    assert normalize_chat_text("x\u200b" * MAX_CHAT_CHARS) == "x" * MAX_CHAT_CHARS


@pytest.mark.parametrize("variant", ["h\u200bi", "h\u200di", "hi\ufe0f", "h\u2060i", "\ufeffhi"])
def test_invisible_characters_do_not_dodge_the_duplicate_check(variant: str) -> None:
    assert duplicate_digest(normalize_chat_text(variant)) == duplicate_digest(normalize_chat_text("hi"))
