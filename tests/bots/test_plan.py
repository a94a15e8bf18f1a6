"""bots.plan: posters stay under the chat limit, workers share the load evenly, pins are valid."""

from __future__ import annotations

import pytest

from bots.plan import POSTS_PER_USER_PER_S, default_procs, make_plan, posters_for


def test_posters_stay_under_the_per_user_limit() -> None:
    posters, warning = posters_for(20, 1000)
    assert warning is None
    assert 20 / posters <= POSTS_PER_USER_PER_S
    assert posters == 50


def test_too_few_viewers_for_the_rate_is_a_warning() -> None:
    posters, warning = posters_for(100, 10)
    assert posters == 10
    assert warning is not None and "rate_limited" in warning


def test_workers_partition_the_viewers_and_the_rate() -> None:
    plan = make_plan("chat", viewers=103, rate=30, procs=4)
    seen = sorted(i for w in range(4) for i in plan.worker_indexes(w))
    assert seen == list(range(103))
    assert sum(plan.worker_rate(w) for w in range(4)) == pytest.approx(30)


def test_default_procs_grows_with_the_load_and_stops_at_the_cores() -> None:
    assert default_procs(50, 5, cpus=8) == 1
    assert default_procs(5000, 200, cpus=8) == 4
    assert default_procs(5000, 200, cpus=2) == 2
    assert default_procs(40_000, 1, cpus=8) == 8  # connections alone need processes
    assert default_procs(2, 1000, cpus=8) == 1


def test_ramp_spreads_connections() -> None:
    plan = make_plan("chat", viewers=10, ramp_s=5)
    assert [plan.connect_at_s(i) for i in (0, 5, 9)] == [0.0, 2.5, 4.5]
    assert make_plan("join", viewers=10).connect_at_s(9) == 0.0


def test_stampede_plan_pins_for_everyone() -> None:
    plan = make_plan("stampede", viewers=40)
    assert plan.buyers == 40
    assert plan.pin is not None
    assert plan.buy_units == plan.pin.limit_per_user + 1
    body = plan.pin.body()
    assert body["stock"] == 40
    assert body["tiers"] == [{"at": 0, "price_cents": 2500}]


def test_stampede_on_an_existing_pin_creates_nothing() -> None:
    plan = make_plan("stampede", viewers=5, pin_id="p7")
    assert plan.pin is None and plan.pin_id == "p7"


def test_mixed_plan_has_falling_tiers_and_a_rush() -> None:
    plan = make_plan("mixed", viewers=300, rate=10, duration_s=60)
    assert plan.pin is not None
    ats = [at for at, _ in plan.pin.tiers]
    prices = [price for _, price in plan.pin.tiers]
    assert ats[0] == 0 and ats == sorted(set(ats))
    assert prices == sorted(prices, reverse=True)
    assert 0 < plan.pin.at_s < plan.duration_s
    assert plan.posters >= 300 // 5
    assert plan.buyers == 90
    assert plan.likes_per_s > 0


def test_crowd_is_one_process_of_people() -> None:
    plan = make_plan("crowd", viewers=15, procs=4)
    assert plan.procs == 1
    assert plan.duration_s == 0


@pytest.mark.parametrize("kwargs", [{"viewers": 0}, {"rate": -1}, {"duration_s": 0}, {"ramp_s": -2}])
def test_bad_options_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        make_plan("chat", **kwargs)  # type: ignore[arg-type]


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        make_plan("party")
