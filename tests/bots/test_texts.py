"""bots.texts: stamps carry the send time and the run tag; the crowd avoids repeating itself."""

from __future__ import annotations

import random

from bots.texts import CROWD_LINES, crowd_line, parse_stamp, stamp


def test_stamp_round_trip() -> None:
    text = stamp("is this still available?", "ab12cd", 1_732_000_000_123_456)
    assert parse_stamp(text, "ab12cd") == 1_732_000_000_123_456


def test_other_runs_and_plain_text_have_no_stamp() -> None:
    assert parse_stamp(stamp("hi", "ab12cd", 5), "zz99zz") is None
    assert parse_stamp("just a person typing ~ here", "ab12cd") is None
    assert parse_stamp("hi ~ab12cdnothex", "ab12cd") is None


def test_stamped_texts_are_unique_and_short() -> None:
    texts = {stamp("wow", "t", us) for us in range(1000)}
    assert len(texts) == 1000
    assert all(len(t) <= 200 for t in texts)


def test_crowd_line_avoids_recent_lines() -> None:
    rng = random.Random(3)
    recent = set(CROWD_LINES[:-1])
    lines = {crowd_line(rng, pin_live=False, recent=recent) for _ in range(20)}
    assert CROWD_LINES[-1] in lines
