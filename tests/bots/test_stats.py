"""bots.stats: workers' stats merge by addition and survive the trip through a pipe (dicts)."""

from __future__ import annotations

from bots.stats import Stats


def worker_stats(wid: int, deliveries: list[tuple[int, int]], errors: dict[str, int]) -> Stats:
    stats = Stats()
    for sec, latency_us in deliveries:
        second = stats.second(sec)
        second.latency.record(latency_us)
        second.counts["deliveries"] += 1
        second.counts["frames"] += 1
    stats.second(0).open = 10 + wid
    stats.errors.update(errors)
    stats.count("connected", 10 + wid)
    stats.closes["1006"] = wid
    stats.hists["connect"].record(1000 * (wid + 1))
    stats.orders.append((f"u{wid}", "b1", {"id": f"o{wid}", "pin": "p1", "qty": 1}))
    stats.note_pin(
        {"id": "p1", "stock_total": 5, "limit_per_user": 2, "tiers": [{"at": 0, "price_cents": 900}]}
    )
    stats.workers.append({"wid": wid})
    return stats


def test_merge_adds_everything_up() -> None:
    a = worker_stats(0, [(0, 1000), (1, 2000)], {"rate_limited": 2})
    b = worker_stats(1, [(1, 3000), (2, 4000), (2, 5000)], {"rate_limited": 1, "sold_out": 4})
    total = Stats.merged([a, b])
    assert total.counters["connected"] == 21
    assert total.errors == {"rate_limited": 3, "sold_out": 4}
    assert total.closes == {"1006": 1}
    assert sorted(total.timeline) == [0, 1, 2]
    assert total.timeline[1].counts["deliveries"] == 2
    assert total.timeline[0].open == 21  # gauges of different workers add up
    assert total.delivery_latency().count == 5
    assert total.delivery_latency().max == 5000
    assert total.hists["connect"].count == 2
    assert len(total.orders) == 2
    assert total.pins["p1"]["stock_total"] == 5
    assert total.pins["p1"]["prices"] == [900]
    assert [w["wid"] for w in total.workers] == [0, 1]


def test_merge_order_does_not_matter() -> None:
    a = worker_stats(0, [(0, 10)], {"x": 1})
    b = worker_stats(1, [(3, 20)], {"y": 2})
    ab = Stats.merged([a, b]).to_dict()
    ba = Stats.merged([b, a]).to_dict()
    for key in ("counters", "errors", "closes", "hists", "timeline", "pins"):
        assert ab[key] == ba[key]


def test_round_trip_through_dict() -> None:
    stats = worker_stats(2, [(0, 100), (5, 200)], {"muted": 1})
    again = Stats.from_dict(stats.to_dict())
    assert again.to_dict() == stats.to_dict()


def test_pin_sold_merges_as_the_highest_seen() -> None:
    a, b = Stats(), Stats()
    a.pins["p1"] = {"sold": 3}
    b.pins["p1"] = {"sold": 5, "state": "ended"}
    total = Stats.merged([a, b])
    assert total.pins["p1"] == {"sold": 5, "state": "ended"}
