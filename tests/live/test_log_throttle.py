"""A noisy log line: one per interval, with the count of those left out."""

from __future__ import annotations

from live.log_throttle import LogThrottle


def test_one_line_per_interval_with_the_count_left_out() -> None:
    throttle = LogThrottle(10.0)
    assert throttle.allow(0.0) == 0
    assert [throttle.allow(t) for t in (1.0, 2.0, 9.9)] == [None, None, None]
    assert throttle.allow(10.0) == 3
    assert throttle.allow(10.5) is None
    assert throttle.allow(30.0) == 1
