"""``live bots ... --share-ratio``: sharer bots make links, other bots connect through them and buy,
and the room's leaderboard must match the acked orders exactly (against a real `live serve`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bots.plan import make_plan
from bots.report import EXIT_FAILED, EXIT_OK
from bots.shares import compare, expected_board
from tests.bots.runner import run_bots
from tests.bots.test_report import clean_stats, report_of
from tests.bots.test_scenarios import assert_correct, common


def test_a_few_sharers_and_a_spread_of_the_others_come_through_them() -> None:
    plan = make_plan("stampede", viewers=40, share_ratio=0.5, procs=2)
    assert plan.sharers == 3
    attributed = [i for i in range(40) if plan.is_attributed(i)]
    assert abs(len(attributed) - 0.5 * 37) <= 2 and not set(attributed) & {0, 1, 2}
    assert {i % 2 for i in attributed} == {0, 1}  # over both workers
    assert {plan.sharer_of(i) for i in attributed} == {0, 1, 2}
    assert make_plan("stampede", viewers=40).sharers == 0
    with pytest.raises(ValueError, match="scenarios that buy"):
        make_plan("chat", share_ratio=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        make_plan("stampede", share_ratio=1.5)


def order(oid: str, user: str, total: int, by: str | None = None, commission: int = 0) -> dict[str, Any]:
    o: dict[str, Any] = {"id": oid, "user": user, "total_cents": total}
    if by is not None:
        o["share"] = {"by": by, "commission_cents": commission}
    return o


def test_the_expected_board_adds_up_floor_commissions_of_standing_orders_once_each() -> None:
    orders = [
        ("u1", "b1", order("o1", "u1", 2599, "s1", 129)),  # floor(2599 * 500 / 10000) = 129
        ("u1", "b1", order("o1", "u1", 2599, "s1", 129)),  # an idempotent replay: the same order
        ("u1", "b2", order("o2", "u1", 2599, "s1", 129)),
        ("u2", "b1", order("o3", "u2", 1000, "s1", 50)),  # cancelled later: counts nowhere
        ("u3", "b1", order("o4", "u3", 1000)),  # came in by no link
        ("s1", "b1", order("o5", "s1", 1000)),  # the sharer's own order
    ]
    expected = expected_board(orders, {"u1": "s1", "u2": "s1"}, ["s1", "s2"], 500, released={"o3"})
    assert expected.by_sharer["s1"].as_row() == {
        "orders": 2,
        "buyers": 1,
        "gmv_cents": 5198,
        "commission_cents": 258,
    }
    assert expected.by_sharer["s2"].as_row() == {
        "orders": 0,
        "buyers": 0,
        "gmv_cents": 0,
        "commission_cents": 0,
    }
    assert expected.wrong_attribution == expected.wrong_commission == 0
    zero = {"visits": 0, "orders": 0, "buyers": 0, "gmv_cents": 0, "commission_cents": 0}
    board: list[dict[str, Any]] = [
        {**zero, "user": {"id": "s1"}, "visits": 2, "orders": 2, "buyers": 1, "gmv_cents": 5198},
        {**zero, "user": {"id": "s2"}},
    ]
    board[0]["commission_cents"] = 258
    assert compare(expected, board, {})["mismatches"] == 0
    board[0]["commission_cents"] = 259  # rounded instead of floored
    assert compare(expected, board, {})["mismatches"] == 1


def test_an_order_with_the_wrong_share_is_a_mismatch() -> None:
    wrong_sharer = [("u1", "b1", order("o1", "u1", 1000, "s2", 50))]
    assert expected_board(wrong_sharer, {"u1": "s1"}, ["s1"], 500).wrong_attribution == 1
    missing = [("u1", "b1", order("o1", "u1", 1000))]
    assert expected_board(missing, {"u1": "s1"}, ["s1"], 500).wrong_attribution == 1
    rounded = [("u1", "b1", order("o1", "u1", 1099, "s1", 55))]  # floor(54.95) = 54
    assert expected_board(rounded, {"u1": "s1"}, ["s1"], 500).wrong_commission == 1


def test_share_figures_off_fail_the_run() -> None:
    clean = {"shares": {"sharers": [], "mismatches": 0, "wrong_attribution": 0, "wrong_commission": 0}}
    assert report_of(clean_stats(), server_checks=clean)["verdict"]["exit_code"] == EXIT_OK
    off = {"shares": {**clean["shares"], "mismatches": 1}}
    verdict = report_of(clean_stats(), server_checks=off)["verdict"]
    assert verdict["exit_code"] == EXIT_FAILED
    assert [f["check"] for f in verdict["failures"]] == ["share_figures"]


async def test_stampede_through_share_links_matches_the_leaderboard(live_server: Any, tmp_path: Path) -> None:
    code, report, out = await run_bots(
        [
            "stampede",
            *common(live_server),
            "--viewers",
            "30",
            "--duration",
            "3",
            "--ramp",
            "1",
            "--procs",
            "2",
            "--share-ratio",
            "0.5",
            "--commission-bp",
            "750",
        ],
        tmp_path / "shares.json",
    )
    assert code == 0, out
    assert_correct(report)
    shares = report["server"]["shares"]
    assert shares["commission_bp"] == 750 and shares["mismatches"] == 0, shares
    plan = make_plan("stampede", viewers=30, share_ratio=0.5)
    assert shares["attributed_viewers"] == sum(plan.is_attributed(i) for i in range(30)) > 0
    assert len(shares["sharers"]) == 3
    for row in shares["sharers"]:
        assert row["ok"] and row["visits"] > 0, row
        assert row["server"]["orders"] > 0 and row["server"]["commission_cents"] > 0, row
    assert sum(r["server"]["orders"] for r in shares["sharers"]) < report["sales"]["buys_acked"]


async def test_stampede_through_share_links_with_payment_counts_standing_orders_only(
    live_server: Any, tmp_path: Path
) -> None:
    code, report, out = await run_bots(
        [
            "stampede",
            *common(live_server),
            "--viewers",
            "20",
            "--duration",
            "3",
            "--ramp",
            "1",
            "--share-ratio",
            "1",
            "--pay",
            "--pay-within",
            "2",
            "--confirm-ratio",
            "0.4",
        ],
        tmp_path / "shares-pay.json",
        timeout_s=90,
    )
    assert code == 0, out
    shares = report["server"]["shares"]
    assert shares["commission_bp"] == 500 and shares["mismatches"] == 0, shares
    states = report["orders"]["by_state"]
    assert states["cancelled"] + states["expired"] > 0, states
    standing = sum(r["server"]["orders"] for r in shares["sharers"])
    # Every non-sharer came through a link; the sharers' own orders (any of them may have been
    # cancelled or expired too) are the rest. The exact sums are the mismatches check above.
    assert standing <= states["confirmed"], (standing, states)
