from live.hub import effective_tick_ms


def test_tick_holds_until_the_send_budget_binds() -> None:
    assert effective_tick_ms(50, 1000, 40_000) == 50
    assert effective_tick_ms(50, 2000, 40_000) == 50
    assert effective_tick_ms(50, 5000, 40_000) == 125
    assert effective_tick_ms(100, 5000, 40_000) == 125


def test_zero_means_off() -> None:
    assert effective_tick_ms(0, 5000, 40_000) == 0
    assert effective_tick_ms(50, 100_000, 0) == 50


def test_a_slow_flush_stretches_the_tick() -> None:
    assert effective_tick_ms(50, 5000, 40_000, last_flush_ms=90) == 180
    assert effective_tick_ms(50, 10, 40_000, last_flush_ms=10) == 50
