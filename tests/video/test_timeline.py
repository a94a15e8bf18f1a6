"""Timeline: each source's timestamps on one rising line, anchored to the wall clock."""

from __future__ import annotations

from live.video.timeline import Timeline


def test_a_source_keeps_its_own_cadence_from_its_anchor() -> None:
    line = Timeline(90_000)
    assert line.place(500, 10.0) == 900_000
    # Arrival jitter does not move the timestamps: the source's 3000-tick steps are kept.
    assert line.place(3500, 10.05) == 903_000
    assert line.place(6500, 10.02) == 906_000


def test_a_new_source_continues_from_now_even_if_its_clock_restarts() -> None:
    line = Timeline(90_000)
    first = [line.place(ts, 1.0 + ts / 90_000) for ts in range(0, 270_000, 3000)]
    line.new_source()
    after = line.place(0, 5.0)
    assert after == 450_000 > first[-1]
    assert line.place(3000, 5.03) == 453_000


def test_a_source_that_jumps_is_reanchored() -> None:
    line = Timeline(48_000, max_drift_s=1.0)
    line.place(0, 0.0)
    assert line.place(10 * 48_000, 0.02) == 960  # ten seconds ahead: back to now


def test_timestamps_always_rise() -> None:
    line = Timeline(90_000)
    a = line.place(1000, 1.0)
    b = line.place(1000, 1.0)  # a duplicate
    c = line.place(None, 0.5)  # no timestamp and an earlier clock
    assert a < b < c
