"""``live bots drops`` and ``mixed --drops``: the judge finds every broken promise of a drop (no
server needed), and against real `live serve` processes the counts come out exact; a grab nobody
of the run was acked (an outsider's) fails the run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bots.cli import build_parser, run
from bots.drop_checks import (
    VIOLATIONS,
    DropView,
    GrabRecord,
    UserSample,
    answer_of,
    judge_drop,
    judge_samples,
    percentiles_ms,
    summarize,
)
from bots.drops import read_samples
from bots.plan import GRAB_RECONNECT_EVERY, DropOptions, make_plan
from bots.report import EXIT_FAILED, EXIT_OK
from kit.procs import free_port
from tests.bots.runner import run_bots
from tests.bots.test_report import clean_stats, report_of
from tests.bots.test_scenarios import assert_correct, common
from tests.support import Client, make_room

D = "d-00000001"
COVERED: set[str] = set()  # the violation kinds the tests below have seen detected


# -- building a drop as the server lists it, and the bots' records of it ----------------------


def listed(user: str, cents: int | None = None, coupon: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"user": {"id": user, "name": user}, "ts_ms": 1}
    if coupon is not None:
        entry["coupon"] = coupon
    else:
        entry["cents"] = cents
    return entry


def envelope(grabs: list[dict[str, Any]], count: int = 3, total: int = 300, **over: Any) -> dict[str, Any]:
    """A consistent ended envelope drop holding ``grabs`` (``over`` breaks it on purpose)."""
    cents = sum(g["cents"] for g in grabs)
    drop = {
        "id": D,
        "kind": "envelope",
        "count": count,
        "left": count - len(grabs),
        "total_cents": total,
        "left_cents": total - cents,
        "task": "none",
        "state": "ended",
        "claimed": len(grabs),
        "grabs": grabs,
    }
    return {**drop, **over}


def coupon_of(n: int, value: int = 500, min_spend: int = 2000) -> dict[str, Any]:
    return {"id": f"{D}-{n}", "value_cents": value, "min_spend_cents": min_spend, "expires_at_ms": 9}


def coupon_drop(grabs: list[dict[str, Any]], count: int = 3) -> dict[str, Any]:
    return {
        "id": D,
        "kind": "coupon",
        "count": count,
        "left": count - len(grabs),
        "value_cents": 500,
        "min_spend_cents": 2000,
        "valid_s": 3600,
        "task": "none",
        "state": "ended",
        "claimed": len(grabs),
        "grabs": grabs,
    }


def won(user: str, prize: dict[str, Any], **kw: Any) -> GrabRecord:
    return GrabRecord(user, D, "g1", sent_us=1000, answered_us=3000, answers=(prize,), **kw)


def lost(user: str, code: str = "gone", **kw: Any) -> GrabRecord:
    return GrabRecord(user, D, "g1", sent_us=1000, answered_us=2000, answers=({"error": code},), **kw)


def ends(users: list[str], claimed: int) -> list[DropView]:
    return [DropView(u, D, (claimed,)) for u in users]


USERS = ["a", "b", "c", "d", "e"]


def clean_envelope() -> tuple[dict[str, Any], list[GrabRecord], list[DropView]]:
    """Three of five grabbers won 100, 150 and 50 cents; two found it gone; everyone saw the end."""
    drop = envelope([listed("a", 100), listed("b", 150), listed("c", 50)])
    grabs = [won("a", {"cents": 100}), won("b", {"cents": 150}), won("c", {"cents": 50})]
    grabs += [lost("d"), lost("e")]
    return drop, grabs, ends(USERS, 3)


def kinds(drop: dict[str, Any], grabs: list[GrabRecord], views: list[DropView]) -> set[str]:
    found = {v.kind for v in judge_drop(drop, grabs, views).violations}
    COVERED.update(found)
    return found


# -- the judge --------------------------------------------------------------------------------


def test_a_clean_envelope_drop_has_no_violations_and_its_figures_add_up() -> None:
    drop, grabs, views = clean_envelope()
    judgement = judge_drop(drop, grabs, views)
    assert judgement.violations == []
    f = judgement.figures
    assert (f["grabbers"], f["acked"], f["gone"], f["ended"], f["lost_to_reconnect"]) == (5, 3, 2, 0, 0)
    assert f["drop_end_viewers"] == 5
    assert f["server"]["cents_listed"] == 300 and f["server"]["left_cents"] == 0
    assert f["ack_ms"]["count"] == 5 and f["ack_ms"]["max"] == 2.0
    assert f["grabs_per_s"] == 2500.0  # 5 answers from the first send (1 ms) to the last answer (3 ms)


def test_a_clean_coupon_drop_has_no_violations() -> None:
    drop = coupon_drop([listed("a", coupon=coupon_of(1)), listed("b", coupon=coupon_of(2))], count=2)
    grabs = [won("a", {"coupon": coupon_of(1)}), won("b", {"coupon": coupon_of(2)}), lost("c")]
    assert kinds(drop, grabs, ends(["a", "b", "c"], 2)) == set()


def test_the_drop_as_a_whole() -> None:
    drop, grabs, views = clean_envelope()
    assert kinds({**drop, "state": "live"}, grabs, views) == {"not_ended"}
    assert kinds({**drop, "claimed": 2}, grabs, ends(USERS, 2)) == {"claimed"}
    # Only two taken while five tried a drop of three: one that got "gone" should have won.
    short = envelope([listed("a", 100), listed("b", 150)])
    assert kinds(short, [*grabs[:2], lost("c"), *grabs[3:]], ends(USERS, 2)) == {"grab_count"}


def test_every_ack_must_be_on_the_list_as_acked() -> None:
    _drop, grabs, views = clean_envelope()
    missing = envelope([listed("a", 100), listed("b", 150)], count=2, total=250)
    assert kinds(missing, grabs, ends(USERS, 2)) == {"acked_missing"}
    differs = envelope([listed("a", 100), listed("b", 140), listed("c", 60)])
    assert kinds(differs, grabs, views) == {"acked_differs"}
    twice = envelope([listed("a", 100), listed("a", 150), listed("c", 50)])
    assert "duplicate_user" in kinds(twice, grabs, views)


def test_every_listed_grab_must_be_acked_unless_its_answer_went_with_a_reconnect() -> None:
    drop, grabs, _views = clean_envelope()
    stranger = envelope([*drop["grabs"], listed("x", 100)], count=4, total=400)
    assert kinds(stranger, grabs, ends(USERS, 4)) == {"grab_without_ack"}
    refused_but_taken = envelope([*drop["grabs"], listed("d", 100)], count=4, total=400)
    assert kinds(refused_but_taken, grabs, ends(USERS, 4)) == {"grab_without_ack"}
    # d's socket dropped before any answer came: taken is fine, counted on its own.
    unanswered = GrabRecord("d", D, "g1", sent_us=1000, reconnected=True, disconnected=True)
    gone_with_socket = [*grabs[:3], unanswered, grabs[4]]
    judgement = judge_drop(refused_but_taken, gone_with_socket, ends(USERS, 4))
    assert judgement.violations == [] and judgement.figures["lost_to_reconnect"] == 1


def test_only_gone_and_ended_are_fair_losses() -> None:
    drop, grabs, views = clean_envelope()
    assert kinds(drop, [*grabs[:4], lost("e", "ended")], views) == set()
    assert kinds(drop, [*grabs[:4], lost("e", "task_required")], views) == {"grab_refused"}


def test_one_id_one_answer_and_a_second_grab_is_refused() -> None:
    drop, grabs, views = clean_envelope()
    replayed = replace(grabs[0], answers=({"cents": 100}, {"cents": 100}), repeats_sent=1)
    refused = {"error": "limit_reached"}
    second = replace(replayed, second_sent=True, second=refused)
    assert kinds(drop, [second, *grabs[1:]], views) == set()
    changed = replace(grabs[0], answers=({"cents": 100}, {"error": "limit_reached"}))
    assert kinds(drop, [changed, *grabs[1:]], views) == {"same_id_different"}
    # Resent after a reconnect: the error on the dead socket's replacement, then the ack, differ.
    assert kinds(
        drop, [replace(grabs[0], answers=({"error": "gone"}, {"cents": 100})), *grabs[1:]], views
    ) == {"same_id_different"}
    again = replace(replayed, second_sent=True, second={"cents": 7})
    assert kinds(drop, [again, *grabs[1:]], views) == {"second_not_refused"}


def test_envelopes_are_a_cent_at_least_and_add_up() -> None:
    drop, grabs, views = clean_envelope()
    zero = envelope([listed("a", 0), listed("b", 150), listed("c", 150)])
    zero_won = [won("a", {"cents": 0}), grabs[1], won("c", {"cents": 150}), *grabs[3:]]
    assert kinds(zero, zero_won, views) == {"envelope_cents"}
    assert kinds({**drop, "left_cents": 1}, grabs, views) == {"envelope_sum"}
    # All taken, the list adds up to total - left_cents, and yet cents are left: they were lost.
    assert kinds({**drop, "total_cents": 305, "left_cents": 5}, grabs, views) == {"envelope_sum"}


def test_coupons_carry_the_drops_terms_and_distinct_ids() -> None:
    cheap = coupon_of(1, value=400)
    drop = coupon_drop([listed("a", coupon=cheap), listed("b", coupon=coupon_of(2))], count=2)
    grabs = [won("a", {"coupon": cheap}), won("b", {"coupon": coupon_of(2)})]
    assert kinds(drop, grabs, ends(["a", "b"], 2)) == {"coupon_value"}
    same = coupon_drop([listed("a", coupon=coupon_of(1)), listed("b", coupon=coupon_of(1))], count=2)
    grabs = [won("a", {"coupon": coupon_of(1)}), won("b", {"coupon": coupon_of(1)})]
    assert kinds(same, grabs, ends(["a", "b"], 2)) == {"coupon_clash"}


def test_drop_end_exactly_once_with_the_servers_count() -> None:
    drop, grabs, views = clean_envelope()
    never = [*views[:4], DropView("e", D, (), online=True)]
    assert kinds(drop, grabs, never) == {"drop_end_missing"}
    offline = [*views[:4], DropView("e", D, (), online=False)]  # may have missed it: not judged here
    assert kinds(drop, grabs, offline) == set()
    assert kinds(drop, grabs, [*views[:4], DropView("e", D, (3, 3))]) == {"drop_end_repeated"}
    assert kinds(drop, grabs, [*views[:4], DropView("e", D, (2,))]) == {"drop_end_claimed"}


def test_sampled_wallets_and_coupons_match_the_acks() -> None:
    _drop, grabs, _views = clean_envelope()
    c = "d-00000002"
    coupon = GrabRecord("a", c, "g2", answers=({"coupon": coupon_of(1) | {"id": f"{c}-1"}},))
    kinds_by_drop = {D: "envelope", c: "coupon"}
    good = [UserSample("a", 100, {c: frozenset({f"{c}-1"})}), UserSample("d", 0)]
    assert judge_samples(good, [*grabs, coupon], kinds_by_drop) == []
    bad = [UserSample("a", 101, {}), UserSample("d", 5)]
    found = [v.kind for v in judge_samples(bad, [*grabs, coupon], kinds_by_drop)]
    COVERED.update(found)
    assert sorted(found) == ["coupons", "wallet", "wallet"]
    # A grab never answered may have been taken: that user's wallet is not judged.
    unanswered = GrabRecord("d", D, "g1", disconnected=True)
    assert judge_samples([UserSample("d", 5)], [unanswered], kinds_by_drop) == []


def test_an_unreadable_wallet_is_a_violation() -> None:
    samples, trouble = read_samples(f"http://127.0.0.1:{free_port()}", {"a": "token"})
    assert samples == [] and [v.kind for v in trouble] == ["unreadable"]
    COVERED.update(v.kind for v in trouble)


def test_every_violation_kind_is_detected_by_a_test_above() -> None:
    for detects in (
        test_a_clean_coupon_drop_has_no_violations,
        test_the_drop_as_a_whole,
        test_every_ack_must_be_on_the_list_as_acked,
        test_every_listed_grab_must_be_acked_unless_its_answer_went_with_a_reconnect,
        test_only_gone_and_ended_are_fair_losses,
        test_one_id_one_answer_and_a_second_grab_is_refused,
        test_envelopes_are_a_cent_at_least_and_add_up,
        test_coupons_carry_the_drops_terms_and_distinct_ids,
        test_drop_end_exactly_once_with_the_servers_count,
        test_sampled_wallets_and_coupons_match_the_acks,
        test_an_unreadable_wallet_is_a_violation,
    ):
        detects()
    assert set(VIOLATIONS) == COVERED


def test_answers_compare_as_the_same_answer() -> None:
    ack = {"t": "ack", "id": "g1", "envelope": {"cents": 137}}
    assert answer_of(ack) == answer_of(dict(ack)) == {"cents": 137}
    assert answer_of({"t": "error", "id": "g1", "code": "gone", "message": "all taken"}) == {"error": "gone"}
    coupon = {"id": "d-1-7", "value_cents": 500, "min_spend_cents": 2000, "expires_at_ms": 5}
    assert answer_of({"t": "ack", "id": "g1", "coupon": coupon}) == {"coupon": coupon}
    assert percentiles_ms([1000 * i for i in range(1, 101)])["p95"] == 95.0


def test_drop_violations_fail_the_run() -> None:
    drop, grabs, views = clean_envelope()
    section = summarize([judge_drop(drop, grabs, views)])
    assert report_of(clean_stats(), server_checks={"drops": section})["verdict"]["exit_code"] == EXIT_OK
    section = summarize([judge_drop({**drop, "state": "live"}, grabs, views)])
    verdict = report_of(clean_stats(), server_checks={"drops": section})["verdict"]
    assert verdict["exit_code"] == EXIT_FAILED
    assert [f["check"] for f in verdict["failures"]] == ["drop_not_ended"]


# -- the plan ---------------------------------------------------------------------------------


def test_the_drops_plan_defaults() -> None:
    plan = make_plan("drops", cpus=2)
    assert plan.viewers == 2000 and plan.grab_share == 1.0
    [drop] = plan.drops
    assert drop.body() == {
        "kind": "envelope",
        "count": 100,
        "duration_s": 10,
        "task": "none",
        "total_cents": 10000,
    }
    follow = make_plan("drops", viewers=40, drop=DropOptions(kind="coupon", value_cents=300, task="follow"))
    assert follow.followers == 40
    assert follow.drops[0].body() == {
        "kind": "coupon",
        "count": 2,
        "duration_s": 10,
        "task": "follow",
        "value_cents": 300,
        "min_spend_cents": 0,
    }
    # One of each block of 10 replays and one of each 50 reconnects; the roles never meet, and each
    # spreads over every residue (two --urls, three workers): the winners may all be on one.
    replays = [i for i in range(2000) if plan.grab_replays(i)]
    reconnects = [i for i in range(2000) if plan.grab_reconnects(i)]
    assert len(replays) == 200 and len(reconnects) == 2000 // GRAB_RECONNECT_EVERY == 40
    assert not set(replays) & set(reconnects)
    for n in (2, 3):
        assert {i % n for i in replays} == {i % n for i in reconnects} == set(range(n))


def test_mixed_drops_alternate_and_fit_the_show() -> None:
    plan = make_plan("mixed", viewers=100, duration_s=30, procs=2, drop=DropOptions(mixed_drops=3))
    assert [d.kind for d in plan.drops] == ["envelope", "coupon", "envelope"]
    assert [d.at_s for d in plan.drops] == [7.5, 15.0, 22.5]
    assert all(d.window_s >= 5 and d.task == "none" for d in plan.drops)
    grabbers = [i for i in range(100) if plan.is_grabber(i)]
    assert 40 <= len(grabbers) <= 60 and {i % 2 for i in grabbers} == {0, 1}
    assert all(d.count == len(grabbers) // 2 for d in plan.drops)


def test_bad_drop_options_exit_2_before_any_traffic() -> None:
    for argv in (
        ["chat", "--drop-kind", "coupon"],
        ["drops", "--drops", "2"],
        ["drops", "--drop-window", "4"],
        ["drops", "--viewers", "10", "--drop-count", "5", "--drop-total", "4"],
    ):
        args = build_parser().parse_args([*argv, "-q", "--no-html", "--url", "http://127.0.0.1:9"])
        assert run(args) == 2, argv
    with pytest.raises(ValueError, match="--drops K belongs"):
        make_plan("stampede", drop=DropOptions(mixed_drops=1))


# -- against real servers ---------------------------------------------------------------------


COUPON_FOLLOW = [
    "--drop-kind",
    "coupon",
    "--drop-count",
    "20",
    "--drop-value",
    "300",
    "--drop-task",
    "follow",
]
ENVELOPE_CHAT = ["--drop-count", "40", "--drop-total", "4000", "--drop-task", "chat", "--drop-window", "5"]
TWO_DROPS = ["--ramp", "1", "--drops", "2"]
FOR_MORE_THAN_THE_BOTS = ["--ramp", "1", "--drop-count", "50", "--drop-window", "5"]


def only_drop(report: dict[str, Any]) -> dict[str, Any]:
    [drop] = report["drops"]["drops"]
    return drop


async def test_envelope_drop_over_two_processes_is_exact(
    start_server: Callable[..., Any], tmp_path: Path
) -> None:
    a, b = start_server(), start_server()
    code, report, out = await run_bots(
        ["drops", "--url", f"{a.url},{b.url}", "--secret", a.secret, "-q", "--viewers", "300", "--ramp", "1"],
        tmp_path / "drops.json",
    )
    assert code == 0, out
    assert_correct(report)
    drop = only_drop(report)
    assert report["drops"]["violation_counts"] == {}
    assert (drop["kind"], drop["count"], drop["grabbers"]) == ("envelope", 15, 300)
    assert (drop["acked"], drop["gone"], drop["ended"], drop["refused"]) == (15, 285, 0, {})
    assert drop["server"] | {"state": "ended"} == {
        "state": "ended",
        "claimed": 15,
        "left": 0,
        "listed": 15,
        "total_cents": 1500,
        "left_cents": 0,
        "cents_listed": 1500,
    }
    assert drop["drop_end_viewers"] == 300
    assert drop["reconnected"] == 6 and drop["lost_to_reconnect"] == 0 and drop["unanswered"] == 0
    # Every winner among the replayers re-sent its id and grabbed again; every reconnecter re-sent.
    assert drop["second_grabs"] == drop["limit_reached"]
    assert drop["repeats_sent"] == drop["second_grabs"] + drop["reconnected"]
    assert drop["ack_ms"]["count"] == 300 - 6 and drop["grabs_per_s"] > 0
    assert report["drops"]["sampled_users"] > 0
    assert report["connections"]["disconnects"] == 0  # the reconnecters' closes are theirs, not failures
    assert report["errors"].get("gone") == 285


async def test_coupon_drop_with_a_follow_task(live_server: Any, tmp_path: Path) -> None:
    code, report, out = await run_bots(
        ["drops", *common(live_server), "--viewers", "60", "--ramp", "1", *COUPON_FOLLOW],
        tmp_path / "follow.json",
    )
    assert code == 0, out
    drop = only_drop(report)
    assert (drop["task"], drop["acked"], drop["gone"], drop["refused"]) == ("follow", 20, 40, {})
    assert drop["server"]["value_cents"] == 300 and drop["server"]["claimed"] == 20
    assert report["drops"]["sampled_users"] > 0  # their coupons were read back and matched


async def test_envelope_drop_with_a_chat_task_for_more_than_the_grabbers(
    live_server: Any, tmp_path: Path
) -> None:
    """Everyone wins; the drop ends when its window closes, not when it is all taken."""
    code, report, out = await run_bots(
        ["drops", *common(live_server), "--viewers", "30", "--ramp", "1", *ENVELOPE_CHAT],
        tmp_path / "chat.json",
    )
    assert code == 0, out
    drop = only_drop(report)
    assert (drop["acked"], drop["gone"], drop["refused"]) == (30, 0, {})
    server = drop["server"]
    assert (server["claimed"], server["left"], server["state"]) == (30, 10, "ended")
    assert server["cents_listed"] == 4000 - server["left_cents"] and server["left_cents"] >= 10
    assert report["chat"]["acked"] >= 30


async def test_mixed_show_with_two_drops(live_server: Any, tmp_path: Path) -> None:
    code, report, out = await run_bots(
        ["mixed", *common(live_server), "--viewers", "40", "--rate", "3", "--duration", "12", *TWO_DROPS],
        tmp_path / "mixed.json",
    )
    assert code == 0, out
    assert_correct(report)
    drops = report["drops"]["drops"]
    assert [d["kind"] for d in drops] == ["envelope", "coupon"]
    for d in drops:
        assert d["acked"] == d["count"] == d["server"]["claimed"] and d["gone"] == d["grabbers"] - d["count"]
        assert d["drop_end_viewers"] == 40
    assert report["sales"]["buys_acked"] > 0  # the pin's rush ran beside them


async def test_a_grab_no_bot_was_acked_fails_the_run(live_server: Any, tmp_path: Path) -> None:
    """An outsider grabs the bots' drop: the server's list holds a grab no ack of the run accounts
    for, and one more grab than the bots could take."""
    room, _host = await make_room(live_server)
    outsider = await Client.connect(
        live_server, room, live_server.token("viewer", room, name="Outsider", sub="outsider")
    )
    run_task = asyncio.create_task(
        run_bots(
            ["drops", *common(live_server), "--room", room, "--viewers", "20", *FOR_MORE_THAN_THE_BOTS],
            tmp_path / "planted.json",
        )
    )
    try:
        event = await outsider.next_of("drop", timeout=60)
        answer = await outsider.request({"t": "grab", "id": "x1", "drop": event["drop"]["id"]})
        assert answer["t"] == "ack" and answer["envelope"]["cents"] >= 1, answer
        code, report, out = await run_task
    finally:
        await outsider.close()
    assert code == EXIT_FAILED, out
    failures = {f["check"] for f in report["verdict"]["failures"]}
    assert failures == {"drop_grab_without_ack", "drop_grab_count"}, report["verdict"]
    [stranger] = [v for v in report["drops"]["violations"] if v["kind"] == "grab_without_ack"]
    assert stranger["user"] == "outsider"
    assert only_drop(report)["acked"] == 20
