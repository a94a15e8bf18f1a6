"""From merged stats to the report: the JSON document, the verdict, the exit code, the summary table.

``build_report`` is pure (everything it needs is passed in), so tests can feed it
hand-made stats. The JSON's shape is described in docs/bots.md.
"""

from __future__ import annotations

import math
from typing import Any

from bots.auction_checks import VIOLATIONS as AUCTION_VIOLATIONS
from bots.checks import SaleLedger
from bots.drop_checks import VIOLATIONS as DROP_VIOLATIONS
from bots.hist import Histogram, bucket_bounds
from bots.plan import Plan
from bots.stats import Stats

REPORT_VERSION = 1
EXIT_OK = 0
EXIT_FAILED = 1  # a correctness check failed
EXIT_COULD_NOT_RUN = 2  # bad options, no server, no viewer ever connected

# Contract §11: auction_end comes within 1 s of ends_at_ms. Later is a warning, not a failure: what
# the bots time includes the delivery (and the bots' own delay on a loaded machine).
AUCTION_END_ON_TIME_MS = 1000.0
BUSY_CPU_PCT = 85.0  # a worker this busy may have delayed what it measured
BUSY_LAG_MS = 50.0


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000.0, 3)


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else 0.0


def timeline_rows(stats: Stats) -> list[dict[str, Any]]:
    """One row per second of the run, gaps filled with zeros."""
    if not stats.timeline:
        return []
    first, last = min(stats.timeline), max(stats.timeline)
    rows = []
    for sec in range(max(first, 0), last + 1):
        second = stats.timeline.get(sec)
        if second is None:
            rows.append({"t": sec, "open": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None})
            continue
        lat = second.latency
        row: dict[str, Any] = {"t": sec, "open": second.open}
        row.update({k: v for k, v in second.counts.items() if v})
        row.update(
            {
                "p50_ms": _ms(lat.percentile(50)),
                "p90_ms": _ms(lat.percentile(90)),
                "p99_ms": _ms(lat.percentile(99)),
                "max_ms": _ms(float(lat.max)) if lat.count else None,
            }
        )
        rows.append(row)
    return rows


def histogram_bins(hist: Histogram, bins_per_decade: int = 10) -> list[dict[str, Any]]:
    """The latency histogram in coarser log bins (ms): ``{low_ms, high_ms, count}``."""
    if hist.count == 0:
        return []
    merged: dict[int, int] = {}
    for index, n in hist.counts.items():
        low, high = bucket_bounds(index)
        middle = math.sqrt(max(low, 0.5) * high)  # µs
        key = math.floor(math.log10(max(middle, 1.0)) * bins_per_decade)
        merged[key] = merged.get(key, 0) + n
    return [
        {
            "low_ms": round(10 ** (k / bins_per_decade) / 1000, 4),
            "high_ms": round(10 ** ((k + 1) / bins_per_decade) / 1000, 4),
            "count": merged[k],
        }
        for k in sorted(merged)
    ]


def load_window(plan: Plan, stats: Stats) -> tuple[int, int]:
    """The whole seconds of steady load: from the ramp's end to the load's end (at least one)."""
    start = math.ceil(plan.ramp_s)
    end = math.floor(plan.ramp_s + plan.duration_s) if plan.duration_s else max(stats.timeline, default=0) + 1
    return start, max(end, start + 1)


def build_report(
    *,
    plan: Plan,
    stats: Stats,
    ledger: SaleLedger,
    meta: dict[str, Any],
    server_checks: dict[str, Any] | None = None,
    problems: list[str] | None = None,
    fatal: list[str] | None = None,
    events: list[dict[str, Any]] | None = None,
    shop: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report document; ``report["verdict"]["exit_code"]`` is what the command returns."""
    c = stats.counters
    server_checks = server_checks or {}
    problems = list(problems or [])
    totals: dict[str, int] = {}
    for second in stats.timeline.values():
        for key, n in second.counts.items():
            totals[key] = totals.get(key, 0) + n
    delivery = stats.delivery_latency()
    w0, w1 = load_window(plan, stats)
    window = [stats.timeline[s] for s in range(w0, w1) if s in stats.timeline]
    window_s = float(w1 - w0)
    in_window = {key: sum(s.counts.get(key, 0) for s in window) for key in ("deliveries", "frames", "events")}
    wall_s = float(meta.get("wall_s") or 0.0)
    peak_open = max((s.open for s in stats.timeline.values()), default=0)
    chat_acked = totals.get("chat_acked", 0)
    expected = chat_acked * plan.viewers  # every accepted stamped post should reach every viewer

    sales = ledger.summary()
    orders_check = server_checks.get("orders", {}) if isinstance(server_checks.get("orders"), dict) else {}
    replay_errors = c.get("replay_errors", 0)

    failures: list[dict[str, Any]] = []

    def fail(check: str, n: int, what: str) -> None:
        if n:
            failures.append({"check": check, "count": n, "what": what})

    fail("oversell", sales["oversold_units"], "units acked beyond a pin's stock")
    fail("per_user_limit", sales["users_over_limit"], "users acked more units than limit_per_user")
    fail("seq_gaps", c.get("seq_missing", 0), "durable events a viewer never received (seq jumped)")
    fail("seq_duplicates", c.get("seq_duplicates", 0), "durable events received twice or out of order")
    fail("seq_regressions", c.get("seq_regressions", 0), "hello seq below what the viewer already had")
    fail("tail_missing", c.get("tail_missing_viewers", 0), "viewers that never received the last durable seq")
    fail("lost_acks", c.get("lost_acks", 0), "requests on an open connection never answered")
    fail(
        "idempotency",
        sales["idempotency_violations"] + replay_errors,
        "a re-sent buy id answered differently from the first time",
    )
    fail("order_id_clash", sales["order_id_clashes"], "one order id acked to different users or pins")
    fail("bad_orders", sales["bad_order_count"], "orders whose prices do not add up")
    fail(
        "acked_orders_missing",
        orders_check.get("acked_orders_missing", 0),
        "acked orders absent on the server",
    )

    shares = server_checks.get("shares")
    if isinstance(shares, dict):  # --share-ratio: the leaderboard against the acks (bots/shares.py)
        fail(
            "share_figures",
            int(shares.get("mismatches", 0)),
            "sharers whose leaderboard row differs from the acked orders, or orders with the wrong share",
        )

    drops = server_checks.get("drops")
    if isinstance(drops, dict):  # drops: every broken promise the judge found (bots/drop_checks.py)
        for kind, n in drops.get("violation_counts", {}).items():
            fail(f"drop_{kind}", int(n), DROP_VIOLATIONS.get(kind, kind))

    auction = server_checks.get("auction")
    if isinstance(auction, dict):  # auction: every broken promise the judge found (bots/auction_checks.py)
        for kind, n in auction.get("violation_counts", {}).items():
            fail(f"auction_{kind}", int(n), AUCTION_VIOLATIONS.get(kind, kind))

    if shop is not None:  # --pay: the shop's samples and the final accounting (bots/shop.py)
        fail("held_over_stock", shop["held_over_stock_samples"], "samples where held units exceeded stock")
        fail("accounting", shop["accounting_mismatches"], "items whose stock_total != stock_left + held")
        fail(
            "settle_idempotency",
            shop["settle_idempotency_violations"],
            "a repeated confirm or cancel answered differently",
        )
        fail("not_expired", shop["reserved_at_end"], "orders still reserved long after their pay_by")

    warnings: list[str] = list(plan.warnings) + problems
    if shop is not None and shop["errors"]:
        warnings.append(f"the shop's HTTP calls failed {len(shop['errors'])} times: {shop['errors'][0]}")
    if isinstance(auction, dict):
        for a in auction.get("auctions", []):
            late = (a.get("end_lateness_ms") or {}).get("max")
            if isinstance(late, int | float) and late > AUCTION_END_ON_TIME_MS:
                warnings.append(
                    f"auction {a['id']}: auction_end reached a viewer {late:g} ms after ends_at_ms "
                    f"(the contract promises 1 s; p50 {a['end_lateness_ms']['p50']} ms)"
                )
    connected = c.get("connected", 0)
    if c.get("never_connected"):
        warnings.append(f"{c['never_connected']} viewers never connected")
    if stats.closes:
        warnings.append(
            f"{sum(stats.closes.values())} unexpected disconnects: {dict(sorted(stats.closes.items()))}"
        )
    if stats.connect_errors:
        warnings.append(f"failed connection attempts: {dict(sorted(stats.connect_errors.items()))}")
    if c.get("viewers_offline_at_end"):
        warnings.append(f"{c['viewers_offline_at_end']} viewers were not connected at the end")
    for key in (
        "bot_errors",
        "bad_frames",
        "unexpected_acks",
        "acks_without_order",
        "chat_posts_skipped_late",
        "bids_skipped_offline",
    ):
        if c.get(key):
            warnings.append(f"{key}: {c[key]}")
    busy = [
        w
        for w in stats.workers
        if w.get("cpu_pct", 0) > BUSY_CPU_PCT or w.get("loop_lag_p99_ms", 0) > BUSY_LAG_MS
    ]
    if busy:
        warnings.append(
            "the bots were busy (worker cpu > 85% or loop lag p99 > 50 ms): latencies include bot-side "
            "delay; use more --procs or fewer viewers"
        )

    fatal = list(fatal or [])
    if connected == 0:
        fatal.insert(0, "no viewer connected")
    if fatal:
        exit_code = EXIT_COULD_NOT_RUN
    elif failures:
        exit_code = EXIT_FAILED
    else:
        exit_code = EXIT_OK

    return {
        "version": REPORT_VERSION,
        "scenario": plan.scenario,
        "meta": meta,
        "plan": {
            "viewers": plan.viewers,
            "rate": plan.rate,
            "duration_s": plan.duration_s,
            "ramp_s": plan.ramp_s,
            "procs": plan.procs,
            "posters": plan.posters,
            "buyers": plan.buyers,
            "likes_per_s": plan.likes_per_s,
            "pin": None if plan.pin is None else plan.pin.body(),
            "existing_pin": plan.pin_id,
        },
        "verdict": {
            "ok": exit_code == EXIT_OK,
            "exit_code": exit_code,
            "failures": failures,
            "could_not_run": fatal,
            "warnings": warnings,
        },
        "connections": {
            "target": plan.viewers,
            "connected": connected,
            "never_connected": c.get("never_connected", 0),
            "peak_open": peak_open,
            "reconnects": c.get("reconnects", 0),
            "resumed": c.get("resumed", 0),
            "disconnects": sum(stats.closes.values()),
            "disconnects_by_code": dict(sorted(stats.closes.items())),
            "connect_failures": sum(stats.connect_errors.values()),
            "connect_failures_by_cause": dict(sorted(stats.connect_errors.items())),
            "connect_ms": stats.hists["connect"].summary(1000),
            "offline_at_end": c.get("viewers_offline_at_end", 0),
        },
        "chat": {
            "sent": totals.get("chat_sent", 0),
            "acked": chat_acked,
            "rejected": c.get("chat_rejected", 0),
            "skipped_offline": c.get("chat_skipped_offline", 0),
            "unanswered_at_disconnect": c.get("chat_unanswered_at_disconnect", 0),
            "posts_per_s": _rate(totals.get("chat_sent", 0), plan.duration_s or wall_s),
            "deliveries": totals.get("deliveries", 0),
            "deliveries_expected": expected,
            "delivery_ratio": round(totals.get("deliveries", 0) / expected, 4) if expected else None,
            "deliveries_per_s": _rate(in_window["deliveries"], window_s),
            "delivery_ms": delivery.summary(1000),
            "ack_ms": stats.hists["chat_ack"].summary(1000),
        },
        "traffic": {
            "frames": totals.get("frames", 0),
            "events": totals.get("events", 0),
            "frames_per_s": _rate(in_window["frames"], window_s),
            "events_per_s": _rate(in_window["events"], window_s),
            "events_per_frame": round(totals.get("events", 0) / totals["frames"], 2)
            if totals.get("frames")
            else None,
            "likes_sent": totals.get("likes_sent", 0),
        },
        "sales": {
            "buys_sent": totals.get("buys_sent", 0),
            "buys_acked": totals.get("buys_acked", 0),
            "units_acked": totals.get("units_acked", 0),
            "buys_resent_after_reconnect": c.get("buys_resent", 0),
            "buys_unanswered_offline": c.get("buys_unanswered_offline", 0),
            "idempotency_replays_sent": c.get("replays_sent", 0),
            "idempotency_replays_acked": c.get("replays_acked", 0),
            "buy_ack_ms": stats.hists["buy_ack"].summary(1000),
            **sales,
        },
        "correctness": {
            "seq_gaps": c.get("seq_gaps", 0),
            "seq_missing_events": c.get("seq_missing", 0),
            "seq_duplicates": c.get("seq_duplicates", 0),
            "seq_regressions": c.get("seq_regressions", 0),
            "viewers_with_gaps": c.get("viewers_with_gaps", 0),
            "resume_refused": c.get("resume_refused", 0),
            "resume_too_old": c.get("resume_too_old", 0),
            "tail_missing_viewers": c.get("tail_missing_viewers", 0),
            "tail_missing_events": c.get("tail_missing_events", 0),
            "lost_acks": c.get("lost_acks", 0),
            "lost_acks_by_kind": {
                k.removeprefix("lost_acks_"): v for k, v in c.items() if k.startswith("lost_acks_")
            },
            "idempotency_violations": sales["idempotency_violations"] + replay_errors,
            "oversold_units": sales["oversold_units"],
            "users_over_limit": sales["users_over_limit"],
        },
        "errors": dict(sorted(stats.errors.items())),
        "orders": shop,
        "drops": drops if isinstance(drops, dict) else None,
        "auction": auction if isinstance(auction, dict) else None,
        "server": server_checks,
        "bots": {
            "procs": plan.procs,
            "workers": sorted(stats.workers, key=lambda w: w.get("wid", 0)),
            "loop_lag_ms": stats.hists["loop_lag"].summary(1000),
        },
        "events": events or [],
        "timeline": timeline_rows(stats),
        "latency_histogram": histogram_bins(delivery),
    }


# -- the summary table ------------------------------------------------------------------


def _fmt_ms(summary: dict[str, Any]) -> str:
    if not summary.get("count"):
        return "-"
    return (
        f"p50 {summary['p50']:.1f}  p90 {summary['p90']:.1f}  p99 {summary['p99']:.1f}  "
        f"max {summary['max']:.1f} ms  (n={summary['count']})"
    )


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(section, metric, value) rows of the end-of-run table."""
    conn, chat, traffic, sales = report["connections"], report["chat"], report["traffic"], report["sales"]
    corr, bots = report["correctness"], report["bots"]
    rows: list[tuple[str, str, str]] = [
        ("run", "scenario", f"{report['scenario']}  room {report['meta'].get('room')}"),
        ("run", "wall time", f"{report['meta'].get('wall_s', 0):.1f} s"),
        (
            "connections",
            "connected / target",
            f"{conn['connected']} / {conn['target']}  (peak open {conn['peak_open']})",
        ),
        ("connections", "connect time", _fmt_ms(conn["connect_ms"])),
        ("connections", "reconnects / resumed", f"{conn['reconnects']} / {conn['resumed']}"),
        ("connections", "disconnects", f"{conn['disconnects']} {conn['disconnects_by_code'] or ''}".strip()),
        (
            "connections",
            "failed attempts",
            f"{conn['connect_failures']} {conn['connect_failures_by_cause'] or ''}".strip(),
        ),
    ]
    if chat["sent"] or chat["deliveries"]:
        rows += [
            ("chat", "posts sent / acked", f"{chat['sent']} / {chat['acked']}  ({chat['posts_per_s']}/s)"),
            (
                "chat",
                "deliveries",
                f"{chat['deliveries']}  ({chat['deliveries_per_s']}/s in the load window)",
            ),
            (
                "chat",
                "delivery ratio",
                "-" if chat["delivery_ratio"] is None else f"{chat['delivery_ratio']:.4f}",
            ),
            ("chat", "delivery latency", _fmt_ms(chat["delivery_ms"])),
            ("chat", "ack latency", _fmt_ms(chat["ack_ms"])),
        ]
    rows += [
        ("traffic", "frames / events per s", f"{traffic['frames_per_s']} / {traffic['events_per_s']}"),
        ("traffic", "events per frame", str(traffic["events_per_frame"] or "-")),
    ]
    if sales["buys_sent"]:
        rows += [
            ("sales", "buys sent / acked", f"{sales['buys_sent']} / {sales['buys_acked']}"),
            ("sales", "units acked", str(sales["units_acked"])),
            ("sales", "buy ack latency", _fmt_ms(sales["buy_ack_ms"])),
        ]
        for pin_id, pin in sales["pins"].items():
            rows.append(
                (
                    "sales",
                    f"pin {pin_id}",
                    f"stock {pin['stock_total']}  acked {pin['units_acked']}  buyers {pin['buyers']}  "
                    f"limit {pin['limit_per_user']}",
                )
            )
    rows += [
        ("correctness", "oversold units", str(corr["oversold_units"])),
        ("correctness", "users over limit", str(corr["users_over_limit"])),
        ("correctness", "seq gaps (missing events)", f"{corr['seq_gaps']} ({corr['seq_missing_events']})"),
        ("correctness", "seq duplicates", str(corr["seq_duplicates"])),
        ("correctness", "viewers missing the tail", str(corr["tail_missing_viewers"])),
        ("correctness", "lost acks", str(corr["lost_acks"])),
        ("correctness", "idempotency violations", str(corr["idempotency_violations"])),
    ]
    orders = report["server"].get("orders") if isinstance(report.get("server"), dict) else None
    if isinstance(orders, dict) and "acked_orders_missing" in orders:
        rows.append(("correctness", "acked orders missing on server", str(orders["acked_orders_missing"])))
    shares = report["server"].get("shares") if isinstance(report.get("server"), dict) else None
    if isinstance(shares, dict) and "sharers" in shares:
        rows.append(("shares", "commission rate", f"{shares['commission_bp']} bp"))
        for row in shares["sharers"]:
            server, acked = row["server"] or {}, row["acked"]
            rows.append(
                (
                    "shares",
                    f"{row['name']} ({row['user']})",
                    f"visits {row['visits']}  orders {server.get('orders')} (acked {acked['orders']})  "
                    f"commission {server.get('commission_cents')} (acked {acked['commission_cents']})"
                    + ("" if row["ok"] else "  MISMATCH"),
                )
            )
        rows.append(
            (
                "correctness",
                "share figures off / wrong share on an order",
                f"{shares['mismatches'] - shares['wrong_attribution'] - shares['wrong_commission']}"
                f" / {shares['wrong_attribution'] + shares['wrong_commission']}",
            )
        )
    drops = report.get("drops")
    if isinstance(drops, dict):
        rows += drop_rows(drops)
    auction = report.get("auction")
    if isinstance(auction, dict):
        rows += auction_rows(auction)
    shop = report.get("orders")
    if isinstance(shop, dict):
        states = ", ".join(f"{k} {v}" for k, v in shop["by_state"].items())
        settled = ", ".join(f"{k} {v}" for k, v in sorted(shop["settled"].items())) or "none"
        rows += [
            ("orders", "final states", states),
            ("orders", "shop answers", settled),
            (
                "correctness",
                "held units over stock (samples)",
                f"{shop['held_over_stock_samples']} of {shop['samples']}",
            ),
            ("correctness", "accounting mismatches", str(shop["accounting_mismatches"])),
        ]
    if report["errors"]:
        rows.append(("errors", "by code", ", ".join(f"{k} {v}" for k, v in report["errors"].items())))
    for w in bots["workers"]:
        rows.append(
            (
                "bots",
                f"worker {w['wid']}",
                f"{w['viewers']} viewers  cpu {w['cpu_pct']}%  loop lag p99 {w['loop_lag_p99_ms']} ms",
            )
        )
    return rows


def drop_rows(drops: dict[str, Any]) -> list[tuple[str, str, str]]:
    """One line per drop (what happened, the server's figures, speed) and the violations."""
    rows = []
    for d in drops.get("drops", []):
        server = d["server"]
        money = (
            f"cents {server.get('cents_listed')} of {server.get('total_cents')} "
            f"(left {server.get('left_cents')})"
            if d["kind"] == "envelope"
            else f"coupons of {server.get('value_cents')} cents"
        )
        ack = d["ack_ms"]
        speed = (
            f"{d['grabs_per_s']} grabs/s  ack p50 {ack['p50']}  p95 {ack['p95']}  p99 {ack['p99']} ms"
            if ack["count"]
            else "no timed grabs"
        )
        rows += [
            (
                "drops",
                f"{d['kind']} {d['id']} (count {d['count']}, task {d['task']})",
                f"grabbers {d['grabbers']}  wins {d['acked']}  gone {d['gone']}  ended {d['ended']}  "
                f"claimed {server.get('claimed')}  {money}",
            ),
            ("drops", "  speed", speed),
            (
                "drops",
                "  repeats",
                f"same id again {d['repeats_sent']}  second grabs {d['second_grabs']} "
                f"(limit_reached {d['limit_reached']})  reconnected {d['reconnected']}  "
                f"lost to a reconnect {d['lost_to_reconnect']}  drop_end seen by {d['drop_end_viewers']}",
            ),
        ]
    counts = drops.get("violation_counts", {})
    found = ", ".join(f"{k} {n}" for k, n in counts.items()) if counts else "0"
    rows.append(
        ("correctness", "drop violations", f"{found}  (wallets sampled {drops.get('sampled_users', 0)})")
    )
    return rows


def auction_rows(auction: dict[str, Any]) -> list[tuple[str, str, str]]:
    """What happened in the auction, its speed, its end, and the violations."""
    rows = []
    for a in auction.get("auctions", []):
        ack, late = a["ack_ms"], a["end_lateness_ms"]
        speed = (
            f"{a['bids_per_s']} bids/s  ack p50 {ack['p50']}  p95 {ack['p95']}  p99 {ack['p99']}  "
            f"max {ack['max']} ms"
            if ack["count"]
            else "no timed bids"
        )
        end = (
            f"moved {a['end_moved_ms']} ms  lateness p50 {late['p50']}  p99 {late['p99']}  "
            f"max {late['max']} ms (n={late['count']})"
            if late["count"]
            else f"moved {a['end_moved_ms']} ms  no auction_end timed"
        )
        order = a.get("order") or {}
        kind = f"extend {a['extend_s']} s" if a["extend_s"] else "sudden death"
        rows += [
            (
                "auction",
                f"{a['id']} ({kind})",
                f"bidders {a['bidders']}  bids {a['bids_sent']} (retries {a['retries']})  "
                f"accepted {a['accepted']}  too_low {a['too_low']}  ended {a['ended']}  "
                f"refused {a['refused'] or 0}",
            ),
            ("auction", "  speed", speed),
            ("auction", "  end", end),
            (
                "auction",
                "  winner",
                f"{a['winner']} at {a['cents']} cents  order {order.get('id')} ({order.get('state')})",
            ),
            (
                "auction",
                "  checks",
                f"history {a['history_bids']} bids, seen whole by {a['whole_show_viewers']} "
                f"of {a['viewers']}  "
                f"auction_end seen by {a['end_viewers']}  replays {a['replays_sent']} "
                f"(identical {a['replays_identical']})  lost to a reconnect {a['lost_to_reconnect']}",
            ),
        ]
    counts = auction.get("violation_counts", {})
    found = ", ".join(f"{k} {n}" for k, n in counts.items()) if counts else "0"
    rows.append(("correctness", "auction violations", found))
    return rows


def print_summary(report: dict[str, Any], console: Any) -> None:
    """The end-of-run table and verdict, on a rich Console."""
    from rich.table import Table

    table = Table(title=f"live bots: {report['scenario']}", show_header=True, header_style="bold")
    table.add_column("", style="dim")
    table.add_column("metric")
    table.add_column("value")
    section = None
    for sec, metric, value in summary_rows(report):
        table.add_row(sec if sec != section else "", metric, value)
        section = sec
    console.print(table)
    verdict = report["verdict"]
    for warning in verdict["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if verdict["exit_code"] == EXIT_OK:
        console.print("[bold green]PASS[/]: every correctness check held")
    elif verdict["exit_code"] == EXIT_FAILED:
        for f in verdict["failures"]:
            console.print(f"[bold red]FAIL[/] {f['check']}: {f['count']} {f['what']}", highlight=False)
    else:
        for reason in verdict["could_not_run"]:
            console.print(f"[bold red]COULD NOT RUN[/]: {reason}", highlight=False)
