"""rooms/moments.py: the replay timeline and the product moments, from plain event lists."""

from __future__ import annotations

from typing import Any

from rooms.moments import MomentKind, ReplayTimeline, Session, product_moments, replay_timeline

T = 1_700_000_000_000
MUG = {"id": "mug", "title": "Panda mug", "image_url": "/m.png", "list_price_cents": 3000}


def show() -> list[tuple[int, dict[str, Any]]]:
    return [
        (T, {"seq": 1, "t": "room", "status": "live"}),
        (T + 1_000, {"seq": 2, "t": "chat", "text": "hi"}),
        (T + 2_000, {"seq": 3, "t": "pin", "pin": {"id": "p1", "product": MUG, "price_cents": 2500}}),
        (T + 2_500, {"seq": 4, "t": "pin", "pin": {"id": "p1", "product": MUG, "price_cents": 2500}}),
        (T + 5_000, {"seq": 5, "t": "price", "pin": "p1", "tier": 1, "price_cents": 1900}),
        (T + 7_000, {"seq": 6, "t": "sold_out", "pin": "p1"}),
        (T + 8_000, {"seq": 7, "t": "pin_end", "pin": "p1", "sold": 10, "final_price_cents": 1900}),
        (
            T + 9_000,
            {"seq": 8, "t": "auction", "auction": {"id": "a1", "product": MUG, "start_cents": 100}},
        ),
        (T + 9_500, {"seq": 9, "t": "auction", "auction": {"id": "a1", "product": MUG, "state": "live"}}),
        (
            T + 12_000,
            {
                "seq": 10,
                "t": "auction_end",
                "auction": "a1",
                "winner": {"id": "b", "name": "B"},
                "cents": 700,
            },
        ),
        (T + 13_000, {"seq": 11, "t": "drop", "drop": {"id": "d1", "kind": "coupon", "value_cents": 500}}),
        (T + 14_000, {"seq": 12, "t": "drop_end", "drop": "d1", "claimed": 3}),
        (T + 20_000, {"seq": 13, "t": "room", "status": "ended"}),
    ]


def test_without_video_the_timeline_is_the_show_from_go_live_to_end() -> None:
    timeline = replay_timeline([], show())
    assert (timeline.origin_ms, timeline.duration_ms) == (T, 20_000)
    assert timeline.offset(T - 50) == 0 and timeline.offset(T + 25_000) == 20_000


def test_every_kind_of_moment_once_in_order_with_its_product_and_price() -> None:
    moments = product_moments(show(), replay_timeline([], show()))
    assert [(m.at_ms, m.kind, m.price_cents) for m in moments] == [
        (2_000, MomentKind.PIN, 2500),  # the second pin event only restates it
        (5_000, MomentKind.PRICE, 1900),
        (7_000, MomentKind.SOLD_OUT, 1900),
        (8_000, MomentKind.PIN_END, 1900),
        (9_000, MomentKind.AUCTION, 100),
        (12_000, MomentKind.AUCTION_END, 700),
        (13_000, MomentKind.DROP, 500),
    ]
    first = moments[0].to_dict()
    assert first == {
        "at_ms": 2_000,
        "kind": "pin",
        "title": "Panda mug",
        "seq": 3,
        "pin": "p1",
        "price_cents": 2500,
        "product": "mug",
        "image_url": "/m.png",
    }
    assert moments[3].to_dict()["sold"] == 10
    assert (
        moments[5].to_dict()["winner"] == {"id": "b", "name": "B"} and moments[5].to_dict()["auction"] == "a1"
    )
    assert moments[6].to_dict()["drop"] == "d1" and moments[6].title == "Coupon"


def test_sessions_play_end_to_end_and_a_gap_maps_to_where_the_next_session_starts() -> None:
    sessions = [Session(T + 1_000, 4_000), Session(T + 10_000, 6_000)]
    timeline = replay_timeline(sessions, show())
    assert (timeline.origin_ms, timeline.duration_ms, timeline.starts) == (T + 1_000, 10_000, (0, 4_000))
    assert timeline.offset(T) == 0  # before the first recording
    assert timeline.offset(T + 2_000) == 1_000  # inside the first
    assert timeline.offset(T + 7_000) == 4_000  # in the gap: the second's start
    assert timeline.offset(T + 12_500) == 6_500  # inside the second
    assert timeline.offset(T + 30_000) == 10_000  # after the last
    kinds = [(m.kind.value, m.at_ms) for m in product_moments(show(), timeline)]
    assert kinds[:3] == [("pin", 1_000), ("price", 4_000), ("sold_out", 4_000)]


def test_an_empty_history_is_an_empty_replay() -> None:
    assert replay_timeline([], []) == ReplayTimeline(0, 0)
    assert product_moments([], ReplayTimeline(0, 0)) == []


def test_events_about_unknown_pins_or_auctions_make_no_moment() -> None:
    events = [
        (T, {"seq": 1, "t": "price", "pin": "nope", "price_cents": 1}),
        (T, {"seq": 2, "t": "sold_out", "pin": "x"}),
    ]
    assert product_moments(events, replay_timeline([], events)) == []
