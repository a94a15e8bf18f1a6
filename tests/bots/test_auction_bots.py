"""``live bots auction``: the judge finds every broken promise of an auction (no server needed), and
against two real `live serve` processes on one Redis a few hundred snipers leave a history, a winner
and an order that all agree, in sudden death and with an extension; a bid no bot was acked (an
outsider's) fails the run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bots.auction_checks import (
    VIOLATIONS,
    AuctionView,
    BidRecord,
    answer_of,
    judge_auction,
    summarize,
)
from bots.auctions import check_auction
from bots.cli import build_parser, run
from bots.host import Host
from bots.plan import BID_REPLAY_EVERY, AuctionOptions, make_plan
from bots.report import EXIT_FAILED, EXIT_OK
from bots.stats import Stats
from kit.procs import free_port
from tests.bots.runner import run_bots
from tests.bots.test_report import clean_stats, report_of
from tests.bots.test_scenarios import assert_correct, common
from tests.support import Client, make_room

A = "a-00000001"
END = 100_000  # the auction's original ends_at_ms
COVERED: set[str] = set()  # the violation kinds the tests below have seen detected


# -- an auction as the server has it, and the bots' records of it --------------------------------


def created(extend_s: int = 0) -> dict[str, Any]:
    """The auction as POST .../auctions answered."""
    return {
        "id": A,
        "product": {"id": "card", "title": "Card", "list_price_cents": 5000},
        "state": "live",
        "start_cents": 1000,
        "increment_cents": 100,
        "high_cents": None,
        "high_bidder": None,
        "bids": 0,
        "starts_at_ms": END - 10_000,
        "ends_at_ms": END,
        "extend_s": extend_s,
    }


def ladder_entry(user: str, cents: int, ts: int, ends: int = END) -> dict[str, Any]:
    return {"user": {"id": user, "name": user}, "cents": cents, "ts_ms": ts, "ends_at_ms": ends}


def final(taken: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    """The auction read back after its end: ``taken`` in the order the server took them."""
    last = taken[-1] if taken else None
    body = {
        **created(),
        "state": "ended",
        "high_cents": last["cents"] if last else None,
        "high_bidder": last["user"] if last else None,
        "bids": len(taken),
        "ends_at_ms": last["ends_at_ms"] if last else END,
        "ladder": list(reversed(taken)),
    }
    return {**body, **over}


def acked(user: str, rid: str, cents: int, ends: int = END, **kw: Any) -> BidRecord:
    ack = {"cents": cents, "ends_at_ms": ends}
    return BidRecord(user, A, rid, cents, sent_us=1_000, answered_us=3_000, answers=(ack,), **kw)


def refused(user: str, rid: str, cents: int, answer: dict[str, Any], **kw: Any) -> BidRecord:
    return BidRecord(user, A, rid, cents, sent_us=1_000, answered_us=2_000, answers=(answer,), **kw)


def history(taken: list[dict[str, Any]]) -> tuple[tuple[str, int, int], ...]:
    return tuple((t["user"]["id"], t["cents"], t["ends_at_ms"]) for t in taken)


def watched(
    user: str, taken: list[dict[str, Any]], winner: str | None, cents: int | None, **kw: Any
) -> AuctionView:
    """A viewer that saw ``taken`` and then one auction_end 20 ms after the end."""
    bids = history(taken)
    return AuctionView(user, A, bids, ((winner, cents, END * 1000 + 20_000, len(bids)),), **kw)


def order(user: str, cents: int, **over: Any) -> dict[str, Any]:
    body = {"id": f"won-{A}", "user": user, "qty": 1, "unit_price_cents": cents, "total_cents": cents}
    return {**body, "state": "confirmed", "auction": A, **over}


USERS = ["a", "b", "c", "d"]
TAKEN = [
    ladder_entry("a", 1000, END - 1500),
    ladder_entry("b", 1100, END - 900),
    ladder_entry("a", 1250, END - 300),
]


def clean() -> tuple[list[BidRecord], list[AuctionView], list[dict[str, Any]]]:
    """a bids 1000 and 1250 (and re-sends the second's id), b 1100 and then once too late; c bids
    1150 against 1100 (too_low, the minimum 1200); d only watches. Everyone saw everything."""
    bids = [
        acked("a", "a1", 1000),
        acked("b", "a1", 1100),
        refused("c", "a1", 1150, {"error": "too_low", "min_cents": 1200}),
        replace(acked("a", "a2", 1250), answers=({"cents": 1250, "ends_at_ms": END},) * 2, repeats_sent=1),
        refused("b", "a2", 1350, {"error": "ended"}),
    ]
    views = [watched(u, TAKEN, "a", 1250) for u in USERS]
    return bids, views, [order("a", 1250)]


def judged(
    bids: list[BidRecord],
    views: list[AuctionView],
    orders: list[dict[str, Any]] | None,
    back: dict[str, Any] | None = None,
    made: dict[str, Any] | None = None,
) -> set[str]:
    found = {
        v.kind
        for v in judge_auction(
            made or created(), final(TAKEN) if back is None else back, bids, views, orders
        ).violations
    }
    COVERED.update(found)
    return found


# -- the judge --------------------------------------------------------------------------------


def test_a_clean_auction_has_no_violations_and_its_figures_add_up() -> None:
    bids, views, orders = clean()
    judgement = judge_auction(created(), final(TAKEN), bids, views, orders)
    assert judgement.violations == []
    f = judgement.figures
    assert (f["bidders"], f["bids_sent"], f["accepted"], f["too_low"], f["ended"]) == (3, 5, 3, 1, 1)
    assert (f["replays_sent"], f["replays_identical"], f["lost_to_reconnect"]) == (1, 1, 0)
    assert (f["history_bids"], f["whole_show_viewers"], f["end_viewers"]) == (3, 4, 4)
    assert (f["winner"], f["cents"], f["end_moved_ms"]) == ("a", 1250, 0)
    assert f["order"] == {"id": f"won-{A}", "user": "a", "qty": 1, "total_cents": 1250, "state": "confirmed"}
    assert f["ack_ms"]["count"] == 5 and f["ack_ms"]["max"] == 2.0
    assert f["bids_per_s"] == 2500.0  # 5 answers from the first send (1 ms) to the last answer (3 ms)
    assert f["end_lateness_ms"] | {"count": 4} == {
        "count": 4,
        "p50": 20.0,
        "p95": 20.0,
        "p99": 20.0,
        "max": 20.0,
        "min": 20.0,
    }


def test_an_auction_nobody_bid_in_ends_without_a_winner_or_an_order() -> None:
    views = [AuctionView(u, A, (), ((None, None, END * 1000, 0),)) for u in USERS]
    assert judged([], views, [], back=final([])) == set()
    assert judged([], views, [order("a", 1000)], back=final([])) == {"order"}


def test_not_ended_after_the_run() -> None:
    bids, views, orders = clean()
    assert judged(bids, views, orders, back=final(TAKEN, state="live")) == {"not_ended"}


def test_only_too_low_and_ended_are_fair_losses_and_too_low_names_a_higher_minimum() -> None:
    bids, views, orders = clean()
    early = refused("c", "a2", 1300, {"error": "not_started"})
    assert judged([*bids, early], views, orders) == {"bid_refused"}
    wrong_minimum = refused("c", "a1", 1150, {"error": "too_low", "min_cents": 1100})
    assert judged([*bids[:2], wrong_minimum, *bids[3:]], views, orders) == {"bid_refused"}


def test_an_acked_id_sent_again_gets_the_identical_ack() -> None:
    bids, views, orders = clean()
    moved = replace(
        bids[3], answers=({"cents": 1250, "ends_at_ms": END}, {"cents": 1250, "ends_at_ms": END + 1})
    )
    assert judged([*bids[:3], moved, bids[4]], views, orders) == {"replay_differs"}


def test_bids_rise_by_the_increment_in_every_history() -> None:
    """The server took 1050 after 1000 (the increment is 100), and told everyone."""
    taken = [ladder_entry("a", 1000, END - 1500), ladder_entry("b", 1050, END - 900)]
    bids = [acked("a", "a1", 1000), acked("b", "a1", 1050)]
    views = [watched(u, taken, "b", 1050) for u in USERS]
    found = judged(bids, views, [order("b", 1050)], back=final(taken))
    assert found == {"bids_not_rising"}
    below_start = [ladder_entry("a", 900, END - 1500)]
    views = [watched(u, below_start, "a", 900) for u in USERS]
    assert judged([acked("a", "a1", 900)], views, [order("a", 900)], back=final(below_start)) == {
        "bids_not_rising"
    }


def test_everyone_who_saw_it_all_saw_the_same_bids() -> None:
    bids, views, orders = clean()
    missed = watched("d", [TAKEN[0], TAKEN[2]], "a", 1250)  # no gap counted, yet a bid is missing
    assert judged(bids, [*views[:3], missed], orders) == {"histories_differ"}
    # A late joiner (no "auction" event, only a hello) saw a part: it must be part of the whole.
    joined = watched("d", TAKEN[1:], "a", 1250, saw_up=False)
    assert judged(bids, [*views[:3], joined], orders) == set()
    elsewhere = watched("d", [TAKEN[0], ladder_entry("b", 1200, END - 900)], "a", 1250, saw_up=False)
    assert judged(bids, [*views[:3], elsewhere], orders) == {"histories_differ"}
    # A viewer that missed events (a gap, counted as such) is only held to the part it saw.
    gapped = watched("d", [TAKEN[0], TAKEN[2]], "a", 1250, gaps=1)
    assert judged(bids, [*views[:3], gapped], orders) == set()


def test_the_servers_ladder_is_the_history() -> None:
    bids, views, orders = clean()
    assert judged(bids, views, orders, back=final(TAKEN, ladder=list(reversed(TAKEN[1:])))) == {
        "ladder_differs"
    }


def test_no_bid_event_after_auction_end() -> None:
    """d got one more bid after its end: c's, whose answer went down with a reconnect."""
    bids, views, orders = clean()
    late = ("c", 1350, END)
    after = AuctionView("d", A, (*history(TAKEN), late), views[3].ends)
    lost = BidRecord("c", A, "a2", 1350, sent_us=1_000, disconnected=True)
    assert judged([*bids, lost], [*views[:3], after], orders) == {"bid_after_end"}


def test_no_bid_acked_at_or_after_the_end() -> None:
    bids, views, orders = clean()
    at_the_end = [*TAKEN[:2], ladder_entry("a", 1250, END)]  # the server's own time says too late
    assert judged(bids, views, orders, back=final(at_the_end)) == {"acked_after_end"}
    # d saw a's acked 1250 only after the end: so its bids before the end are not everyone's.
    ends = ((("a", 1250, END * 1000 + 20_000, 2)),)
    told_late = AuctionView("d", A, history(TAKEN), ends)
    assert judged(bids, [*views[:3], told_late], orders) == {"acked_after_end", "histories_differ"}


def test_auction_end_exactly_once_for_everyone_online() -> None:
    bids, views, orders = clean()
    never = AuctionView("d", A, history(TAKEN), ())
    assert judged(bids, [*views[:3], never], orders) == {"end_missing"}
    offline = replace(never, online=False)  # may have missed it: not judged here
    assert judged(bids, [*views[:3], offline], orders) == set()
    twice = replace(views[3], ends=views[3].ends * 2)
    assert judged(bids, [*views[:3], twice], orders) == {"end_repeated"}


def test_the_winner_is_the_last_bid() -> None:
    bids, views, orders = clean()
    wrong = watched("d", TAKEN, "b", 1100)
    assert judged(bids, [*views[:3], wrong], orders) == {"winner"}
    assert judged(bids, views, orders, back=final(TAKEN, high_cents=1100)) == {"winner"}


def test_every_ack_is_in_the_history() -> None:
    bids, views, orders = clean()
    unseen = acked("c", "a2", 1400)
    assert judged([*bids, unseen], views, orders) == {"acked_missing"}
    other_cents = replace(bids[0], answers=({"cents": 1001, "ends_at_ms": END},))
    assert judged([other_cents, *bids[1:]], views, orders) == {"acked_missing"}


def test_every_bid_in_the_history_has_an_ack_unless_a_reconnect_took_it() -> None:
    bids, views, orders = clean()
    assert judged([bids[0], *bids[2:]], views, orders) == {"bid_without_ack"}  # b's 1100: nobody's ack
    answered_no = refused("b", "a1", 1100, {"error": "too_low", "min_cents": 1100 + 100})
    assert judged([bids[0], answered_no, *bids[2:]], views, orders) == {"bid_without_ack"}
    # b's connection dropped before any answer came: taken is fine, counted on its own.
    gone = BidRecord("b", A, "a1", 1100, sent_us=1_000, disconnected=True)
    judgement = judge_auction(created(), final(TAKEN), [bids[0], gone, *bids[2:]], views, orders)
    assert judgement.violations == [] and judgement.figures["lost_to_reconnect"] == 1


def test_sudden_death_never_moves_the_end() -> None:
    bids, views, orders = clean()
    moved = [*TAKEN[:2], ladder_entry("a", 1250, END - 300, ends=END + 1700)]
    bids = [*bids[:3], replace(bids[3], answers=({"cents": 1250, "ends_at_ms": END + 1700},) * 2), bids[4]]
    views = [watched(u, moved, "a", 1250) for u in USERS]
    assert judged(bids, views, orders, back=final(moved)) == {"ends_at"}
    # An ack that says another end than the bid event: the ack lies, or the event does.
    bids, views, orders = clean()
    lying = replace(bids[0], answers=({"cents": 1000, "ends_at_ms": END + 5},))
    assert judged([lying, *bids[1:]], views, orders) == {"ends_at"}


def test_an_extension_moves_the_end_as_extend_s_says_and_never_back() -> None:
    made = created(extend_s=2)
    # 1000 with 5 s left leaves the end; 1100 with 1.5 s left moves it to its time + 2 s.
    taken = [ladder_entry("a", 1000, END - 5000, END), ladder_entry("b", 1100, END - 1500, END + 500)]
    bids = [acked("a", "a1", 1000, END), acked("b", "a1", 1100, END + 500)]
    views = [watched(u, taken, "b", 1100) for u in USERS]
    judgement = judge_auction(made, final(taken), bids, views, [order("b", 1100)])
    assert judgement.violations == [] and judgement.figures["end_moved_ms"] == 500
    # Then 1100 with 1.5 s left of the moved end sets it back, to 1.3 s after its time.
    back = [ladder_entry("a", 1000, END - 1500, END + 500), ladder_entry("b", 1100, END - 1000, END + 300)]
    bids = [acked("a", "a1", 1000, END + 500), acked("b", "a1", 1100, END + 300)]
    views = [watched(u, back, "b", 1100) for u in USERS]
    assert judged(bids, views, [order("b", 1100)], back=final(back), made=made) == {"ends_at"}
    # Without the ladder (unreadable) the histories alone show the end going back.
    unread = judge_auction(made, None, bids, views, [order("b", 1100)]).violations
    assert [(v.kind, v.user) for v in unread] == [("ends_at", "b")]


def test_the_winner_has_one_order_at_the_winning_price() -> None:
    bids, views, _orders = clean()
    assert judged(bids, views, []) == {"order"}
    assert judged(bids, views, [order("a", 1100)]) == {"order"}
    assert judged(bids, views, [order("b", 1250)]) == {"order"}
    assert judged(bids, views, [order("a", 1250), order("a", 1250)]) == {"order"}
    assert judged(bids, views, [order("a", 1250), {"id": "o-1", "user": "b", "total_cents": 5}]) == set()


def test_an_unreadable_auction_is_a_violation() -> None:
    with Host(f"http://127.0.0.1:{free_port()}", "r", "token") as host:
        section = check_auction(host, created(), Stats())
    assert section["violation_counts"] == {"unreadable": 2}  # the auction, and the orders
    COVERED.add("unreadable")


def test_every_violation_kind_is_detected_by_a_test_above() -> None:
    for detects in (
        test_an_auction_nobody_bid_in_ends_without_a_winner_or_an_order,
        test_not_ended_after_the_run,
        test_only_too_low_and_ended_are_fair_losses_and_too_low_names_a_higher_minimum,
        test_an_acked_id_sent_again_gets_the_identical_ack,
        test_bids_rise_by_the_increment_in_every_history,
        test_everyone_who_saw_it_all_saw_the_same_bids,
        test_the_servers_ladder_is_the_history,
        test_no_bid_event_after_auction_end,
        test_no_bid_acked_at_or_after_the_end,
        test_auction_end_exactly_once_for_everyone_online,
        test_the_winner_is_the_last_bid,
        test_every_ack_is_in_the_history,
        test_every_bid_in_the_history_has_an_ack_unless_a_reconnect_took_it,
        test_sudden_death_never_moves_the_end,
        test_an_extension_moves_the_end_as_extend_s_says_and_never_back,
        test_the_winner_has_one_order_at_the_winning_price,
        test_an_unreadable_auction_is_a_violation,
    ):
        detects()
    assert set(VIOLATIONS) == COVERED


def test_answers_compare_as_the_same_answer() -> None:
    ack = {"t": "ack", "id": "a1", "bid": {"cents": 1200, "ends_at_ms": END}}
    assert answer_of(ack) == answer_of(dict(ack)) == {"cents": 1200, "ends_at_ms": END}
    low = {"t": "error", "id": "a1", "code": "too_low", "message": "m", "min_cents": 1300}
    assert answer_of(low) == {"error": "too_low", "min_cents": 1300}
    assert answer_of({"t": "error", "id": "a1", "code": "ended", "message": "m"}) == {"error": "ended"}


def test_records_survive_the_trip_to_the_parent() -> None:
    bids, views, _orders = clean()
    assert [BidRecord.from_dict(b.to_dict()) for b in bids] == bids
    assert [AuctionView.from_dict(v.to_dict()) for v in views] == views


def test_auction_violations_fail_the_run_and_a_late_end_warns() -> None:
    bids, views, orders = clean()
    section = summarize([judge_auction(created(), final(TAKEN), bids, views, orders)])
    report = report_of(clean_stats(), server_checks={"auction": section})
    assert report["verdict"]["exit_code"] == EXIT_OK and report["verdict"]["warnings"] == []
    section = summarize([judge_auction(created(), final(TAKEN, state="live"), bids, views, orders)])
    verdict = report_of(clean_stats(), server_checks={"auction": section})["verdict"]
    assert verdict["exit_code"] == EXIT_FAILED
    assert [f["check"] for f in verdict["failures"]] == ["auction_not_ended"]
    slow = [replace(v, ends=((v.ends[0][0], v.ends[0][1], END * 1000 + 1_500_000, 3),)) for v in views]
    section = summarize([judge_auction(created(), final(TAKEN), bids, slow, orders)])
    verdict = report_of(clean_stats(), server_checks={"auction": section})["verdict"]
    assert verdict["exit_code"] == EXIT_OK
    assert [w for w in verdict["warnings"] if "1500 ms after ends_at_ms" in w], verdict["warnings"]


# -- the plan ---------------------------------------------------------------------------------


def test_the_auction_plan_defaults() -> None:
    plan = make_plan("auction", cpus=2)
    assert plan.viewers == 300 and plan.auction is not None
    assert plan.auction.body() == {
        "product": {"id": "bots-card", "title": "Load-test card", "list_price_cents": 5000},
        "start_cents": 1000,
        "increment_cents": 100,
        "duration_s": 10,
        "extend_s": 0,
    }
    assert plan.auction.snipe_window_s == 2.0
    # One replayer in each block of ten, over every residue (two --urls, three workers).
    replays = [i for i in range(300) if plan.bid_replays(i)]
    assert len(replays) == 300 // BID_REPLAY_EVERY
    for n in (2, 3):
        assert {i % n for i in replays} == set(range(n))
    extended = make_plan("auction", viewers=5, auction=AuctionOptions(duration_s=6, extend_s=2))
    assert extended.auction is not None and extended.auction.body()["extend_s"] == 2
    assert extended.duration_s > 6 + 2  # the run may wait for the moved end


def test_bad_auction_options_exit_2_before_any_traffic() -> None:
    for argv in (
        ["chat", "--extend", "2"],
        ["auction", "--auction-duration", "4"],
        ["auction", "--extend", "61"],
        ["auction", "--increment", "0"],
        ["auction", "--start-cents", "-1"],
        ["auction", "--snipe-window", "0"],
        ["auction", "--auction-duration", "5", "--snipe-window", "6"],
    ):
        args = build_parser().parse_args([*argv, "-q", "--no-html", "--url", "http://127.0.0.1:9"])
        assert run(args) == 2, argv


# -- against real servers ---------------------------------------------------------------------

SHORT = ["--ramp", "1", "--auction-duration", "6"]
EXTEND = [*SHORT, "--extend", "2"]


def only_auction(report: dict[str, Any]) -> dict[str, Any]:
    [auction] = report["auction"]["auctions"]
    return auction


async def test_sudden_death_over_two_processes(start_server: Callable[..., Any], tmp_path: Path) -> None:
    a, b = start_server(), start_server()
    code, report, out = await run_bots(
        ["auction", "--url", f"{a.url},{b.url}", "--secret", a.secret, "-q", "--viewers", "300", *SHORT],
        tmp_path / "auction.json",
    )
    assert code == 0, out
    assert_correct(report)
    assert report["auction"]["violation_counts"] == {}
    f = only_auction(report)
    assert (f["bidders"], f["viewers"], f["whole_show_viewers"], f["end_viewers"]) == (300, 300, 300, 300)
    assert f["refused"] == {} and f["unanswered"] == 0 and f["lost_to_reconnect"] == 0
    assert f["accepted"] == f["history_bids"] == f["server"]["ladder"] == f["server"]["bids"] > 0
    assert f["too_low"] > 0 and f["ended"] > 0  # some bid under the last minimum, some after the end
    assert f["accepted"] + f["too_low"] + f["ended"] == f["bids_sent"]
    assert f["end_moved_ms"] == 0 and f["final_end_ms"] == f["original_end_ms"]
    assert (
        f["order"]["user"] == f["winner"]
        and f["order"]["total_cents"] == f["cents"] == f["server"]["high_cents"]
    )
    assert 0 < f["replays_identical"] == f["replays_sent"] <= 300 // BID_REPLAY_EVERY
    assert f["ack_ms"]["count"] == f["bids_sent"] and f["bids_per_s"] > 0
    assert f["end_lateness_ms"]["count"] == 300 and f["end_lateness_ms"]["min"] >= 0
    assert report["errors"].get("too_low") == f["too_low"] and report["errors"].get("ended") == f["ended"]
    assert report["connections"]["disconnects"] == 0


async def test_an_extension_moves_the_end(start_server: Callable[..., Any], tmp_path: Path) -> None:
    a, b = start_server(), start_server()
    code, report, out = await run_bots(
        ["auction", "--url", f"{a.url},{b.url}", "--secret", a.secret, "-q", "--viewers", "200", *EXTEND],
        tmp_path / "extend.json",
    )
    assert code == 0, out
    assert_correct(report)
    f = only_auction(report)
    assert f["extend_s"] == 2 and f["end_moved_ms"] > 0
    assert f["final_end_ms"] == f["original_end_ms"] + f["end_moved_ms"]
    assert f["accepted"] == f["history_bids"] > 0 and f["end_viewers"] == 200
    assert f["order"]["total_cents"] == f["cents"]


async def test_a_bid_no_bot_was_acked_fails_the_run(live_server: Any, tmp_path: Path) -> None:
    """An outsider bids in the bots' auction: the history holds a bid no ack of the run accounts for."""
    room, _host = await make_room(live_server)
    outsider = await Client.connect(
        live_server, room, live_server.token("viewer", room, name="Outsider", sub="outsider")
    )
    run_task = asyncio.create_task(
        run_bots(
            ["auction", *common(live_server), "--room", room, "--viewers", "20", *SHORT],
            tmp_path / "outsider.json",
        )
    )
    try:
        event = await outsider.next_of("auction", timeout=60)
        answer = await outsider.request(
            {"t": "bid", "id": "x1", "auction": event["auction"]["id"], "cents": 1000}
        )
        assert answer["t"] == "ack", answer
        code, report, out = await run_task
    finally:
        await outsider.close()
    assert code == EXIT_FAILED, out
    assert {f["check"] for f in report["verdict"]["failures"]} == {"auction_bid_without_ack"}, report[
        "verdict"
    ]
    [stranger] = report["auction"]["violations"]
    assert stranger["user"] == "outsider" and "no bot of this run" in stranger["detail"]
