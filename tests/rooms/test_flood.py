from rooms.flood import FloodGuard


def test_burst_then_refill() -> None:
    guard = FloodGuard(frames_per_s=10, burst=3)
    assert [guard.admit(0) for _ in range(4)] == [True, True, True, False]
    assert guard.retry_after_ms() > 0
    assert guard.admit(100)  # one token back after 100 ms at 10/s
    assert not guard.admit(100)


def test_unlimited() -> None:
    guard = FloodGuard(frames_per_s=0)
    assert all(guard.admit(0) for _ in range(1000))


def test_strikes_within_window_cut_off() -> None:
    guard = FloodGuard(max_strikes=3, strike_window_ms=1000)
    assert [guard.strike(t) for t in (0, 10, 20)] == [False, False, False]
    assert guard.strike(30)
    fresh = FloodGuard(max_strikes=3, strike_window_ms=1000)
    assert not any(fresh.strike(t) for t in (0, 600, 1200, 1800, 2400))
