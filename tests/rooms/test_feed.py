"""The room feed driven directly: joins, backlogs, stream entries, ephemeral slots, flushes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from rooms import events
from rooms.feed import (
    Action,
    Broadcast,
    Close,
    CloseReason,
    Deliver,
    FeedState,
    FetchBacklog,
    RoomFeed,
)

NOW = 1_700_000_000_000


def chat(seq: int, user: str = "ann") -> str:
    return orjson.dumps(
        {"t": "chat", "seq": seq, "user": {"id": user, "name": user}, "text": f"#{seq}"}
    ).decode()


def ban(seq: int, user: str) -> str:
    return orjson.dumps({"t": "mod", "seq": seq, "action": "ban", "user": user}).decode()


def entry(seq: int, body: str | None = None, appended_ms: int = 0) -> tuple[int, str, int]:
    return (seq, body or chat(seq), appended_ms)


def running(seq: int = 10) -> RoomFeed[str]:
    feed: RoomFeed[str] = RoomFeed()
    feed.start(seq)
    return feed


def given(actions: list[Action[str]]) -> dict[str, list[dict[str, Any]]]:
    """What each member is handed by these actions, decoded."""
    out: dict[str, list[dict[str, Any]]] = {}
    for action in actions:
        if isinstance(action, Broadcast):
            for member in action.members:
                out.setdefault(member, []).extend(orjson.loads(action.frame))
        elif isinstance(action, Deliver):
            out.setdefault(action.member, []).extend(orjson.loads(action.frame))
    return out


def seqs(evs: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in evs if "seq" in e]


def closes(actions: list[Action[str]]) -> dict[str, CloseReason]:
    return {a.member: a.reason for a in actions if isinstance(a, Close)}


def test_one_shared_frame_with_its_size_computed_once() -> None:
    feed = running()
    for member in ("a", "b", "c"):
        assert feed.join(member, 10, member) is True
    feed.receive([entry(11, appended_ms=NOW - 30), entry(12)])
    actions = feed.flush(NOW)
    assert len(actions) == 1
    [broadcast] = actions
    assert isinstance(broadcast, Broadcast)
    assert broadcast.members == ["a", "b", "c"]
    assert broadcast.size == len(broadcast.frame.encode())
    assert broadcast.events == 2 and broadcast.lags_ms == [30]
    assert seqs(orjson.loads(broadcast.frame)) == [11, 12]
    assert feed.seq == 12
    assert feed.flush(NOW) == []  # nothing new, nothing out


def test_size_counts_utf8_bytes() -> None:
    feed = running()
    feed.join("a", 10, "a")
    feed.receive([entry(11, orjson.dumps({"t": "chat", "seq": 11, "text": "売り切れ 🎉"}).decode())])
    [broadcast] = feed.flush(NOW)
    assert isinstance(broadcast, Broadcast)
    assert broadcast.size == len(broadcast.frame.encode()) > len(broadcast.frame)


def test_join_at_the_current_seq_needs_no_backlog() -> None:
    feed = running(10)
    assert feed.join("a", 10, None) is True
    assert feed.fetches() == []
    assert len(feed) == 1


def test_join_before_the_seq_is_known_waits_then_is_admitted_without_a_fetch() -> None:
    feed: RoomFeed[str] = RoomFeed()
    assert feed.join("a", 10, None) is False
    assert feed.fetches() == []  # not running yet: nothing to ask for
    feed.start(10)
    assert feed.state is FeedState.RUNNING
    assert feed.fetches() == [] and len(feed) == 1


def test_join_behind_gets_its_backlog_then_live_frames() -> None:
    feed = running(10)
    assert feed.join("a", 7, None) is False
    assert feed.fetches() == [FetchBacklog("a", 7, 10)]
    assert feed.fetches() == []  # being fetched: not asked for twice
    feed.receive([entry(11)])
    [deliver] = feed.backlog("a", [(8, chat(8)), (9, chat(9)), (10, chat(10))])
    assert isinstance(deliver, Deliver) and deliver.member == "a" and deliver.events == 3
    assert seqs(orjson.loads(deliver.frame)) == [8, 9, 10] and deliver.size == len(deliver.frame)
    assert seqs(given(feed.flush(NOW))["a"]) == [11]


def test_backlog_that_does_not_start_after_the_join_is_history_lost() -> None:
    feed = running(10)
    feed.join("a", 3, None)
    feed.join("b", 3, None)
    feed.fetches()
    # The stream was trimmed past 4: the oldest entry left is 6.
    assert feed.backlog("a", [(6, chat(6)), (7, chat(7)), (8, chat(8)), (9, chat(9)), (10, chat(10))]) == [
        Close("a", CloseReason.HISTORY_LOST)
    ]
    assert feed.backlog("b", []) == [Close("b", CloseReason.HISTORY_LOST)]
    assert not feed.holds


def test_a_failed_backlog_read_keeps_the_join_waiting() -> None:
    feed = running(10)
    feed.join("a", 8, None)
    [fetch] = feed.fetches()
    feed.backlog_failed("a")
    assert feed.holds and len(feed) == 0
    assert feed.fetches() == [fetch]  # asked for again
    feed.backlog("a", [(9, chat(9)), (10, chat(10))])
    assert len(feed) == 1


def test_flushes_during_a_backlog_read_ask_for_the_rest() -> None:
    feed = running(10)
    feed.join("live", 10, None)
    feed.join("a", 8, None)
    assert feed.fetches() == [FetchBacklog("a", 8, 10)]
    feed.receive([entry(11), entry(12)])
    feed.flush(NOW)  # while a's backlog is read
    actions = feed.backlog("a", [(9, chat(9)), (10, chat(10))])
    assert actions[1:] == [FetchBacklog("a", 10, 12)]
    assert seqs(given(actions)["a"]) == [9, 10]
    assert len(feed) == 1  # not admitted until it has 11 and 12
    feed.backlog("a", [(11, chat(11)), (12, chat(12))])
    feed.receive([entry(13)])
    assert seqs(given(feed.flush(NOW))["a"]) == [13]


def test_a_member_that_left_during_its_backlog_read_is_forgotten() -> None:
    feed = running(10)
    feed.join("a", 8, None)
    feed.fetches()
    feed.leave("a")
    assert feed.backlog("a", [(9, chat(9)), (10, chat(10))]) == []
    assert not feed.holds


def test_a_join_in_the_middle_of_a_batch_gets_only_what_it_has_not_seen() -> None:
    feed = running(10)
    feed.join("old", 10, None)
    feed.receive([entry(11), entry(12)])
    # The joiner's snapshot was read after 12 was appended, before the feed flushed it.
    assert feed.join("new", 12, None) is True
    feed.receive([entry(13)])
    feed.offer("viewers", 2, events.Viewers(2))
    out = given(feed.flush(NOW))
    assert seqs(out["old"]) == [11, 12, 13]
    assert seqs(out["new"]) == [13]
    assert out["new"][-1] == {"t": "viewers", "n": 2}
    feed.receive([entry(14)])
    actions = feed.flush(NOW)
    assert len(actions) == 1  # in step again: one shared frame for both
    assert given(actions) == {"old": [orjson.loads(chat(14))], "new": [orjson.loads(chat(14))]}


def test_a_joiner_ahead_of_everything_read_waits_for_its_position() -> None:
    feed = running(10)
    feed.join("new", 13, None)
    feed.receive([entry(11), entry(12)])
    assert "new" not in given(feed.flush(NOW))
    feed.offer("likes", 5, events.Likes(5))
    assert given(feed.flush(NOW))["new"] == [{"t": "likes", "total": 5}]  # ephemeral only
    feed.receive([entry(13), entry(14)])
    assert seqs(given(feed.flush(NOW))["new"]) == [14]


def test_a_reader_restart_re_reading_entries_gives_no_duplicates() -> None:
    feed = running(10)
    feed.join("a", 10, None)
    feed.receive([entry(11), entry(12)])
    feed.receive([entry(11), entry(12), entry(13)])  # re-read from an older id before the flush
    first = given(feed.flush(NOW))["a"]
    feed.receive([entry(12), entry(13), entry(14)])  # and after it
    second = given(feed.flush(NOW))["a"]
    assert seqs(first) == [11, 12, 13] and seqs(second) == [14]


def test_a_seq_jump_closes_every_member_with_history_lost() -> None:
    feed = running(10)
    feed.join("a", 10, None)
    feed.join("b", 10, None)
    feed.join("ahead", 11, None)
    feed.join("joining", 5, None)  # its backlog comes from Redis, not from the reader
    feed.fetches()
    assert feed.receive([entry(11)]) == []
    lost = feed.receive([entry(15), entry(16)])
    assert closes(lost) == {m: CloseReason.HISTORY_LOST for m in ("a", "b", "ahead")}
    assert len(feed) == 0 and feed.seq == 15
    # The feed goes on from the jump: whoever joins now is served from there.
    feed.join("c", 16, None)
    feed.receive([entry(17)])
    assert seqs(given(feed.flush(NOW))["c"]) == [17]
    # The join whose backlog was read before the jump needs (10, 16]; the stream lost 12..14.
    assert feed.backlog("joining", [(s, chat(s)) for s in range(6, 11)])[-1] == FetchBacklog(
        "joining", 10, 17
    )
    assert feed.backlog("joining", [(15, chat(15)), (16, chat(16)), (17, chat(17))]) == [
        Close("joining", CloseReason.HISTORY_LOST)
    ]


def test_a_ban_between_two_frames_closes_that_users_members() -> None:
    feed = running(10)
    feed.join("eve-phone", 10, "eve")
    feed.join("eve-laptop", 10, "eve")
    feed.join("ann", 10, "ann")
    feed.join("anon", 10, None)
    feed.receive([entry(11)])
    assert set(given(feed.flush(NOW))) == {"eve-phone", "eve-laptop", "ann", "anon"}
    feed.receive([entry(12, ban(12, "eve"))])
    actions = feed.flush(NOW)
    out = given(actions)
    assert seqs(out["eve-phone"]) == seqs(out["eve-laptop"]) == seqs(out["ann"]) == [12]
    assert closes(actions) == {"eve-phone": CloseReason.BANNED, "eve-laptop": CloseReason.BANNED}
    # Close comes after the member's last frame.
    kinds = [
        type(a) for a in actions if getattr(a, "member", None) == "eve-phone" or isinstance(a, Broadcast)
    ]
    assert kinds[-1] is Close
    feed.receive([entry(13)])
    assert set(given(feed.flush(NOW))) == {"ann", "anon"}


def test_a_ban_inside_a_batch_cuts_the_banned_users_frame_at_the_ban() -> None:
    feed = running(10)
    feed.join("eve", 10, "eve")
    feed.join("ann", 10, "ann")
    feed.join("eve-late", 11, "eve")  # ahead of the feed when the ban arrives
    feed.receive([entry(11), entry(12, ban(12, "eve")), entry(13)])
    feed.offer("viewers", 3, events.Viewers(3))
    actions = feed.flush(NOW)
    out = given(actions)
    assert seqs(out["eve"]) == [11, 12] and seqs(out["eve-late"]) == [12]
    assert {"t": "viewers", "n": 3} not in out["eve"]
    assert seqs(out["ann"]) == [11, 12, 13]
    assert closes(actions) == {"eve": CloseReason.BANNED, "eve-late": CloseReason.BANNED}
    assert len(feed) == 1


def test_a_ban_in_a_joiners_backlog_closes_it() -> None:
    feed = running(12)
    feed.join("eve", 9, "eve")
    feed.fetches()
    actions = feed.backlog("eve", [(10, chat(10)), (11, ban(11, "eve")), (12, chat(12))])
    assert seqs(given(actions)["eve"]) == [10, 11]
    assert closes(actions) == {"eve": CloseReason.BANNED}
    assert not feed.holds


def test_ephemeral_values_keep_only_the_latest_and_only_when_changed() -> None:
    feed = running(10)
    feed.join("a", 10, None)
    feed.offer("viewers", 3, events.Viewers(3))
    feed.offer("viewers", 4, events.Viewers(4))  # supersedes 3 before any flush
    feed.offer("stock", ("p1", 9), events.Stock("p1", 9))
    assert given(feed.flush(NOW))["a"] == [{"t": "viewers", "n": 4}, {"t": "stock", "pin": "p1", "left": 9}]
    feed.offer("viewers", 4, events.Viewers(4))  # unchanged: nothing to send
    assert feed.flush(NOW) == []
    feed.offer("viewers", 5, events.Viewers(5))
    feed.offer("viewers", 4, events.Viewers(4))  # back to what members have
    assert not feed.has_output
    # Progress changes with its count, not with its next tier's threshold alone.
    feed.offer("progress", ("p1", 7), events.Progress("p1", 7, 10))
    feed.offer("progress", ("p1", 7), events.Progress("p1", 7, 20))
    assert given(feed.flush(NOW))["a"] == [{"t": "progress", "pin": "p1", "count": 7, "next_at": 10}]


def test_a_lazy_value_waits_for_company_or_its_due_time() -> None:
    feed = running(10)
    feed.join("a", 10, None)
    feed.offer("viewers", 3, events.Viewers(3), due_ms=NOW + 1000)
    assert not feed.has_output and not feed.output_due(NOW + 999)
    assert feed.flush(NOW) == []  # not due, nothing else: kept, not sent
    feed.offer("viewers", 4, events.Viewers(4), due_ms=NOW + 5000)  # keeps the earlier due
    assert feed.output_due(NOW + 1000)
    assert given(feed.flush(NOW + 1000))["a"] == [{"t": "viewers", "n": 4}]
    # Rides along with an eager figure at once, however far its own due time is.
    feed.offer("viewers", 5, events.Viewers(5), due_ms=NOW + 9000)
    feed.offer("likes", 7, events.Likes(7))
    assert feed.has_output
    assert given(feed.flush(NOW + 1001))["a"] == [{"t": "viewers", "n": 5}, {"t": "likes", "total": 7}]
    # And with durable events.
    feed.offer("viewers", 6, events.Viewers(6), due_ms=NOW + 9000)
    feed.receive([entry(11)])
    assert [e["t"] for e in given(feed.flush(NOW + 1002))["a"]] == ["chat", "viewers"]
    # Back to what members have: nothing is owed, however long one waits.
    feed.offer("viewers", 7, events.Viewers(7), due_ms=NOW + 2000)
    feed.offer("viewers", 6, events.Viewers(6), due_ms=NOW + 2000)
    assert not feed.output_due(NOW + 10_000) and feed.flush(NOW + 10_000) == []


def test_ephemeral_values_ride_along_with_durable_events() -> None:
    feed = running(10)
    feed.join("a", 10, None)
    feed.offer("likes", 40, events.Likes(40))
    feed.receive([entry(11)])
    [broadcast] = feed.flush(NOW)
    assert isinstance(broadcast, Broadcast) and broadcast.events == 2
    assert [e["t"] for e in orjson.loads(broadcast.frame)] == ["chat", "likes"]


def test_release_all_hands_back_members_and_joins() -> None:
    feed = running(10)
    feed.join("a", 10, None)
    feed.join("b", 11, None)
    feed.join("c", 2, None)
    assert sorted(feed.release_all()) == ["a", "b", "c"]
    assert not feed.holds


def test_states_are_checked() -> None:
    feed: RoomFeed[str] = RoomFeed()
    with pytest.raises(RuntimeError):
        feed.receive([entry(1)])
    feed.start(0)
    with pytest.raises(RuntimeError):
        feed.start(0)
    feed.join("a", 0, None)
    with pytest.raises(ValueError):
        feed.join("a", 0, None)
