"""bots.report: the verdict and exit code follow the checks; rates and rows add up."""

from __future__ import annotations

from bots.checks import SaleLedger
from bots.plan import make_plan
from bots.report import (
    EXIT_COULD_NOT_RUN,
    EXIT_FAILED,
    EXIT_OK,
    build_report,
    histogram_bins,
    summary_rows,
    timeline_rows,
)
from bots.stats import Stats

PLAN = make_plan("chat", viewers=4, rate=1, duration_s=2, ramp_s=1, procs=1)


def clean_stats() -> Stats:
    stats = Stats()
    stats.count("connected", 4)
    for sec in (0, 1, 2):
        second = stats.second(sec)
        second.open = 4
        for ms in (2, 3, 4, 5):
            second.latency.record(ms * 1000)
            second.counts["deliveries"] += 1
            second.counts["frames"] += 1
            second.counts["events"] += 1
        second.counts["chat_sent"] += 1
        second.counts["chat_acked"] += 1
    stats.workers.append({"wid": 0, "viewers": 4, "cpu_pct": 3.0, "loop_lag_p99_ms": 1.0})
    return stats


def report_of(stats: Stats, ledger: SaleLedger | None = None, **kw: object) -> dict:  # type: ignore[type-arg]
    return build_report(
        plan=PLAN, stats=stats, ledger=ledger or SaleLedger(), meta={"room": "r", "wall_s": 3.0}, **kw
    )  # type: ignore[arg-type]


def test_a_clean_run_passes() -> None:
    report = report_of(clean_stats())
    assert report["verdict"] == {
        "ok": True,
        "exit_code": EXIT_OK,
        "failures": [],
        "could_not_run": [],
        "warnings": [],
    }
    chat = report["chat"]
    assert chat["deliveries"] == 12
    assert chat["acked"] == 3
    assert chat["deliveries_expected"] == 12
    assert chat["delivery_ratio"] == 1.0
    assert chat["deliveries_per_s"] == 4.0  # seconds 1 and 2 are the load window
    assert chat["delivery_ms"]["max"] == 5.0
    assert report["connections"]["peak_open"] == 4


def test_a_gap_fails_the_run() -> None:
    stats = clean_stats()
    stats.count("seq_missing", 3)
    report = report_of(stats)
    assert report["verdict"]["exit_code"] == EXIT_FAILED
    assert [f["check"] for f in report["verdict"]["failures"]] == ["seq_gaps"]


def test_oversell_and_limit_fail_the_run() -> None:
    ledger = SaleLedger()
    ledger.add_pin("p1", {"stock_total": 1, "limit_per_user": 1})
    for i in range(2):
        ledger.add_order("a", f"b{i}", {"id": f"o{i}", "pin": "p1", "qty": 1})
    report = report_of(clean_stats(), ledger)
    checks = {f["check"]: f["count"] for f in report["verdict"]["failures"]}
    assert checks == {"oversell": 1, "per_user_limit": 1}
    assert report["verdict"]["exit_code"] == EXIT_FAILED


def test_lost_acks_and_missing_server_orders_fail_the_run() -> None:
    stats = clean_stats()
    stats.count("lost_acks", 2)
    stats.count("lost_acks_chat", 2)
    report = report_of(stats, server_checks={"orders": {"acked_orders_missing": 1}})
    checks = {f["check"] for f in report["verdict"]["failures"]}
    assert checks == {"lost_acks", "acked_orders_missing"}
    assert report["correctness"]["lost_acks_by_kind"] == {"chat": 2}


def test_nobody_connected_could_not_run() -> None:
    stats = Stats()
    stats.connect_errors["refused"] = 4
    report = report_of(stats)
    assert report["verdict"]["exit_code"] == EXIT_COULD_NOT_RUN
    assert report["verdict"]["could_not_run"] == ["no viewer connected"]


def test_a_fatal_problem_could_not_run() -> None:
    report = report_of(clean_stats(), fatal=["creating the pin: HTTP 400"])
    assert report["verdict"]["exit_code"] == EXIT_COULD_NOT_RUN


def test_disconnects_and_busy_bots_are_warnings_not_failures() -> None:
    stats = clean_stats()
    stats.closes["1006"] = 2
    stats.workers[0]["cpu_pct"] = 99.0
    report = report_of(stats)
    assert report["verdict"]["exit_code"] == EXIT_OK
    assert any("1006" in w for w in report["verdict"]["warnings"])
    assert any("busy" in w for w in report["verdict"]["warnings"])


def test_timeline_rows_fill_missing_seconds() -> None:
    stats = clean_stats()
    stats.second(5).counts["frames"] = 1
    rows = timeline_rows(stats)
    assert [r["t"] for r in rows] == [0, 1, 2, 3, 4, 5]
    assert rows[3]["p50_ms"] is None
    assert rows[0]["p99_ms"] is not None


def test_histogram_bins_keep_every_sample() -> None:
    hist = clean_stats().delivery_latency()
    bins = histogram_bins(hist)
    assert sum(b["count"] for b in bins) == hist.count
    assert all(b["low_ms"] < b["high_ms"] for b in bins)


def test_summary_rows_mention_the_checks() -> None:
    rows = summary_rows(report_of(clean_stats()))
    metrics = {metric for _section, metric, _value in rows}
    assert {"oversold units", "lost acks", "delivery latency", "connect time"} <= metrics
