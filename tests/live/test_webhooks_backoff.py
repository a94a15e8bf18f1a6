"""live/webhooks/backoff.py: from 1 s doubling to a cap; given up after the retry window (pure)."""

from __future__ import annotations

from live.webhooks.backoff import Backoff

T0 = 1_700_000_000_000
HOUR = 3_600_000


def test_delay_doubles_from_one_second_to_ten_minutes() -> None:
    b = Backoff()
    assert [b.delay_ms(n) for n in range(1, 12)] == [
        1000,
        2000,
        4000,
        8000,
        16_000,
        32_000,
        64_000,
        128_000,
        256_000,
        512_000,
        600_000,
    ]
    assert b.delay_ms(10_000) == 600_000  # no overflow however many attempts


def test_the_cap_is_a_setting() -> None:
    b = Backoff(max_delay_ms=1500)
    assert [b.delay_ms(n) for n in (1, 2, 3)] == [1000, 1500, 1500]


def test_next_due_is_now_plus_the_delay_within_the_window() -> None:
    b = Backoff()
    assert b.next_due_ms(1, T0, T0) == T0 + 1000
    assert b.next_due_ms(3, T0, T0 + 10_000) == T0 + 10_000 + 4000


def test_given_up_once_the_first_attempt_is_older_than_the_window() -> None:
    b = Backoff(retry_hours=72)
    assert b.next_due_ms(500, T0, T0 + 72 * HOUR - 1) == T0 + 72 * HOUR - 1 + 600_000
    assert b.next_due_ms(500, T0, T0 + 72 * HOUR) is None
    assert Backoff(retry_hours=24).next_due_ms(200, T0, T0 + 24 * HOUR) is None
    assert Backoff(retry_hours=24).next_due_ms(200, T0, T0 + 23 * HOUR) is not None
