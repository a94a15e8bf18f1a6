"""bots.checks: gap accounting across reconnections, and the sale ledger's verdicts."""

from __future__ import annotations

from bots.checks import RETENTION_PROMISED, SaleLedger, SeqCheck


def test_a_clean_stream_has_no_gaps() -> None:
    s = SeqCheck()
    assert s.since() is None
    s.hello(10, resumed=False)
    for n in range(11, 20):
        s.event(n)
    assert (s.gaps, s.missing, s.duplicates, s.last) == (0, 0, 0, 19)
    assert s.since() == 19


def test_a_jump_counts_the_missing_events() -> None:
    s = SeqCheck()
    s.hello(0, resumed=False)
    for n in (1, 2, 5, 6, 9):
        s.event(n)
    assert s.gaps == 2
    assert s.missing == 2 + 2
    assert s.last == 9


def test_repeats_and_old_events_are_duplicates() -> None:
    s = SeqCheck()
    s.hello(3, resumed=False)
    for n in (4, 4, 2, 5):
        s.event(n)
    assert s.duplicates == 2
    assert s.missing == 0
    assert s.last == 5


def test_a_resumed_reconnection_continues_from_last() -> None:
    s = SeqCheck()
    s.hello(0, resumed=False)
    s.event(1)
    s.hello(7, resumed=True)  # events 2..7 follow
    for n in range(2, 8):
        s.event(n)
    assert (s.resumed, s.gaps, s.missing) == (1, 0, 0)


def test_refusing_to_resume_within_retention_is_a_gap() -> None:
    s = SeqCheck()
    s.hello(0, resumed=False)
    s.event(1)
    s.hello(50, resumed=False)
    assert s.resume_refused == 1
    assert s.missing == 49
    assert s.last == 50


def test_refusing_to_resume_beyond_retention_is_allowed() -> None:
    s = SeqCheck()
    s.hello(1, resumed=False)
    s.hello(1 + RETENTION_PROMISED + 5, resumed=False)
    assert s.resume_too_old == 1
    assert s.missing == 0


def test_a_fresh_snapshot_with_nothing_new_loses_nothing() -> None:
    s = SeqCheck()
    s.hello(4, resumed=False)
    s.hello(4, resumed=False)
    assert s.missing == 0 and s.resume_refused == 0


def test_hello_seq_going_backwards_is_a_regression() -> None:
    s = SeqCheck()
    s.hello(9, resumed=False)
    s.hello(3, resumed=True)
    assert s.regressions == 1


def order(oid: str, user: str, qty: int = 1, unit: int = 1000, pin: str = "p1") -> dict[str, object]:
    return {
        "id": oid,
        "pin": pin,
        "user": user,
        "qty": qty,
        "unit_price_cents": unit,
        "total_cents": unit * qty,
    }


def test_units_within_stock_and_limits_pass() -> None:
    ledger = SaleLedger()
    ledger.add_pin("p1", {"stock_total": 3, "limit_per_user": 2, "prices": [1000]})
    ledger.add_orders(
        [("a", "b1", order("o1", "a")), ("a", "b2", order("o2", "a")), ("b", "b1", order("o3", "b"))]
    )
    summary = ledger.summary()
    assert summary["oversold_units"] == 0
    assert summary["users_over_limit"] == 0
    assert summary["pins"]["p1"]["units_acked"] == 3
    assert summary["pins"]["p1"]["buyers"] == 2


def test_more_units_than_stock_is_oversell() -> None:
    ledger = SaleLedger()
    ledger.add_pin("p1", {"stock_total": 2})
    for i in range(5):
        ledger.add_order(f"u{i}", "b1", order(f"o{i}", f"u{i}"))
    assert ledger.oversell_units() == 3


def test_a_user_past_the_limit_is_counted() -> None:
    ledger = SaleLedger()
    ledger.add_pin("p1", {"stock_total": 100, "limit_per_user": 2})
    for i in range(3):
        ledger.add_order("greedy", f"b{i}", order(f"o{i}", "greedy"))
    assert ledger.limit_violations() == 1
    assert ledger.pins["p1"].over_limit() == {"greedy": 3}


def test_an_idempotent_replay_counts_once() -> None:
    ledger = SaleLedger()
    ledger.add_pin("p1", {"stock_total": 1, "limit_per_user": 1})
    ledger.add_order("a", "b1", order("o1", "a"))
    ledger.add_order("a", "b1", order("o1", "a"))
    assert ledger.replays == 1
    assert ledger.oversell_units() == 0
    assert ledger.idempotency_violations == 0


def test_one_request_id_with_two_orders_is_an_idempotency_violation() -> None:
    ledger = SaleLedger()
    ledger.add_pin("p1", {"stock_total": 1})
    ledger.add_order("a", "b1", order("o1", "a"))
    ledger.add_order("a", "b1", order("o2", "a"))
    assert ledger.idempotency_violations == 1
    assert ledger.oversell_units() == 1


def test_an_order_id_given_to_two_users_is_a_clash() -> None:
    ledger = SaleLedger()
    ledger.add_order("a", "b1", order("o1", "a"))
    ledger.add_order("b", "b1", order("o1", "b"))
    assert ledger.foreign_order_ids == 1


def test_prices_must_add_up_and_match_a_tier() -> None:
    ledger = SaleLedger()
    ledger.add_pin("p1", {"stock_total": 10, "prices": [2000, 2500]})
    ledger.add_order(
        "a", "b1", {"id": "o1", "pin": "p1", "qty": 2, "unit_price_cents": 2000, "total_cents": 3000}
    )
    ledger.add_order("b", "b1", order("o2", "b", unit=1999))
    ledger.add_order("c", "b1", order("o3", "c", unit=2500))
    assert len(ledger.bad_orders) == 2


def test_stock_unknown_means_no_oversell_verdict() -> None:
    ledger = SaleLedger()
    ledger.add_order("a", "b1", order("o1", "a", pin="p9"))
    assert ledger.oversell_units() == 0
