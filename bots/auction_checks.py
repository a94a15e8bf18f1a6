"""Judging an auction (contract §11), pure: the bots' bids and histories and what the server says, in;
violations out.

Nothing here reads a clock or touches a socket. The workers record every bid a bot sent
(``BidRecord``: each answer its id got, whether its connection dropped while it waited) and every
viewer's history of the auction (``AuctionView``: each ``bid`` event and each ``auction_end``, in
order); after the run the parent reads the auction back with its ladder
(``GET /api/rooms/{room}/auctions/{auction}``) and the room's orders as host, and ``judge_auction``
lists every broken promise.

The promises checked: in every history the bids rise by at least the increment (the first at least
``start_cents``), every viewer that saw the whole show saw the same bids, and the server's ladder is
that sequence; no bid after ``auction_end``, which comes exactly once; the winner and cents are the
last bid's; every acked bid is in the history before the end, with its ack's ``ends_at_ms``, and
every bid in the history has an ack (unless the ack went down with a connection); no bid taken at or
after the end in force, by the server's own times; sudden death never moves the end, an extension
moves it to the bid's time + ``extend_s`` when less was left and never back; an id sent again gets
the identical ack; the winner's order ``won-<auction>`` exists once, at the winning cents.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bots.drop_checks import percentiles_ms

# A bid answered with one of these lost fairly: someone bid more first, or it came too late.
FAIR_LOSSES = frozenset({"too_low", "ended"})

# Every kind of violation, with what it means (the report's failures name them ``auction_<kind>``).
VIOLATIONS = {
    "unreadable": "the auction, its ladder or the room's orders could not be read back",
    "not_ended": "the auction was not ended after the run",
    "bid_refused": "a bid answered with an error other than too_low or ended (or a too_low whose "
    "min_cents is not above the bid)",
    "replay_differs": "an acked bid's id sent again got a different answer",
    "bids_not_rising": "a viewer's bid events do not rise by at least the increment (or start below "
    "start_cents)",
    "histories_differ": "viewers that saw the whole auction saw different bids (or a late joiner's "
    "are not among them)",
    "ladder_differs": "the server's ladder is not the sequence of bids the viewers saw",
    "bid_after_end": "a viewer got a bid event after auction_end",
    "acked_after_end": "an acked bid that came after auction_end, or that the server took at or after "
    "the end in force",
    "end_missing": "a viewer online at the end that never got auction_end",
    "end_repeated": "a viewer that got auction_end more than once",
    "winner": "an auction_end (or the server's auction) whose winner or cents are not the last bid's",
    "acked_missing": "an acked bid that is not in the history (with that user and cents)",
    "bid_without_ack": "a bid in the history that no ack accounts for",
    "ends_at": "an ends_at_ms that is wrong: moved in sudden death, moved back or not as extend_s says, "
    "or an ack's differs from its bid event's",
    "order": "not exactly one order won-<auction> for the winner at the winning cents",
}

Answer = Mapping[str, Any]  # {"cents": N, "ends_at_ms": M} | {"error": code[, "min_cents": N]}
BidEvent = tuple[str, int, int]  # a bid event as a viewer saw it: (user id, cents, ends_at_ms)
EndEvent = tuple[str | None, int | None, int, int]  # (winner id, cents, arrival µs, bid events before it)


def answer_of(ev: Mapping[str, Any]) -> dict[str, Any]:
    """A bid's ``ack`` or ``error`` event as an answer that compares equal when it is the same."""
    if ev.get("t") == "error":
        answer: dict[str, Any] = {"error": str(ev.get("code"))}
        if "min_cents" in ev:
            answer["min_cents"] = ev.get("min_cents")
        return answer
    bid = ev.get("bid")
    if isinstance(bid, dict):
        return {"cents": bid.get("cents"), "ends_at_ms": bid.get("ends_at_ms")}
    return {"error": "ack_without_bid"}


def is_ack(answer: Answer | None) -> bool:
    return answer is not None and "error" not in answer


@dataclass(frozen=True, slots=True)
class BidRecord:
    """One bid a bot sent (one request id), as its worker saw it."""

    user: str
    auction: str
    rid: str
    cents: int
    retry: bool = False  # sent at a too_low's min_cents
    sent_us: int = 0
    answered_us: int | None = None  # when the first answer came
    answers: tuple[Answer, ...] = ()  # every answer to this id, in order: the first, then the replay's
    repeats_sent: int = 0  # times this id was sent again after its ack
    disconnected: bool = False  # a connection ended while this bid waited for its answer

    @property
    def first(self) -> Answer | None:
        return self.answers[0] if self.answers else None

    @property
    def ack(self) -> Answer | None:
        return next((a for a in self.answers if is_ack(a)), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "auction": self.auction,
            "rid": self.rid,
            "cents": self.cents,
            "retry": self.retry,
            "sent_us": self.sent_us,
            "answered_us": self.answered_us,
            "answers": [dict(a) for a in self.answers],
            "repeats_sent": self.repeats_sent,
            "disconnected": self.disconnected,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BidRecord:
        return cls(
            user=str(d["user"]),
            auction=str(d["auction"]),
            rid=str(d["rid"]),
            cents=int(d["cents"]),
            retry=bool(d.get("retry")),
            sent_us=int(d.get("sent_us") or 0),
            answered_us=d.get("answered_us"),
            answers=tuple(dict(a) for a in d.get("answers", ())),
            repeats_sent=int(d.get("repeats_sent") or 0),
            disconnected=bool(d.get("disconnected")),
        )


@dataclass(frozen=True, slots=True)
class AuctionView:
    """One viewer's history of an auction it saw live: its bid events and auction_ends, in order."""

    user: str
    auction: str
    bids: tuple[BidEvent, ...] = ()
    ends: tuple[EndEvent, ...] = ()
    saw_up: bool = True  # got the durable "auction" event that put it up (not only a hello's snapshot)
    gaps: int = 0  # durable events this viewer missed while it watched the auction
    reconnected: bool = False  # a new connection while it watched (its end may have come late for it)
    online: bool = True  # connected when the run ended (an offline viewer may have missed the end)

    @property
    def whole_show(self) -> bool:
        """Saw it go up and end, and missed nothing in between: its bids must be everyone's."""
        return self.saw_up and self.gaps == 0 and bool(self.ends)

    def to_dict(self) -> dict[str, Any]:
        # The bid tuples are kept as they are: a worker shares one tuple per bid event among its
        # viewers, so the pickle to the parent holds each once.
        return {
            "user": self.user,
            "auction": self.auction,
            "bids": list(self.bids),
            "ends": list(self.ends),
            "saw_up": self.saw_up,
            "gaps": self.gaps,
            "reconnected": self.reconnected,
            "online": self.online,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuctionView:
        return cls(
            user=str(d["user"]),
            auction=str(d["auction"]),
            bids=tuple(b if isinstance(b, tuple) else (str(b[0]), int(b[1]), int(b[2])) for b in d["bids"]),
            ends=tuple(
                e if isinstance(e, tuple) else (e[0], e[1], int(e[2]), int(e[3])) for e in d.get("ends", ())
            ),
            saw_up=bool(d.get("saw_up", True)),
            gaps=int(d.get("gaps") or 0),
            reconnected=bool(d.get("reconnected")),
            online=bool(d.get("online", True)),
        )


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    auction: str | None
    detail: str
    user: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "auction": self.auction, "user": self.user, "detail": self.detail}


@dataclass
class Judgement:
    figures: dict[str, Any]
    violations: list[Violation]


def _user_id(user: Any) -> str | None:
    if isinstance(user, dict):
        return str(user.get("id"))
    return None if user is None else str(user)


def ladder_of(auction: Mapping[str, Any]) -> list[tuple[str, Any, Any, Any]]:
    """The server's ladder in the order the bids were taken: (user id, cents, ends_at_ms, ts_ms)."""
    rows = [r for r in auction.get("ladder") or [] if isinstance(r, dict)]
    taken = [
        (str(_user_id(r.get("user"))), r.get("cents"), r.get("ends_at_ms"), r.get("ts_ms")) for r in rows
    ]
    return list(reversed(taken))  # the server lists the highest first


def _is_subsequence(part: Sequence[BidEvent], whole: Sequence[BidEvent]) -> bool:
    rest = iter(whole)
    return all(any(x == y for y in rest) for x in part)


def judge_auction(
    created: Mapping[str, Any],
    final: Mapping[str, Any] | None,
    bids: Iterable[BidRecord],
    views: Iterable[AuctionView],
    orders: Sequence[Mapping[str, Any]] | None,
) -> Judgement:
    """Everything the bots can check of one auction.

    ``created``: the auction as ``POST .../auctions`` answered (its original ``ends_at_ms``);
    ``final``: the auction read back after the run, with its ``ladder`` (None: unreadable);
    ``bids``: the bots' bids; ``views``: every viewer's history of it; ``orders``: the room's orders
    as the host reads them (None: unreadable). What could not be read is not judged: the caller
    says ``unreadable``, with the reason.
    """
    auction_id = str(created.get("id"))
    start = int(created.get("start_cents") or 0)
    increment = int(created.get("increment_cents") or 1)
    extend_ms = int(created.get("extend_s") or 0) * 1000
    original_end = int(created.get("ends_at_ms") or 0)
    mine = [b for b in bids if b.auction == auction_id]
    seen = [v for v in views if v.auction == auction_id]
    violations: list[Violation] = []

    def bad(what: str, detail: str, user: str | None = None) -> None:
        violations.append(Violation(what, auction_id, detail, user))

    if final is not None and final.get("state") != "ended":
        bad("not_ended", f"state {final.get('state')!r} after the run")
    ladder = ladder_of(final) if final is not None else []

    # -- the bots' own answers
    acked: dict[tuple[str, int], BidRecord] = {}  # (user, cents) -> its acked bid
    refused: Counter[str] = Counter()
    for b in mine:
        ack = b.ack
        if ack is not None:
            for answer in b.answers:
                if dict(answer) != dict(ack):
                    bad("replay_differs", f"{b.rid}: {dict(answer)} after the ack {dict(ack)}", b.user)
                    break
            if ack.get("cents") != b.cents:
                bad("acked_missing", f"{b.rid}: a bid of {b.cents} cents acked as {ack.get('cents')}", b.user)
            acked[(b.user, b.cents)] = b
            continue
        first = b.first
        if first is None:
            continue
        code = str(first.get("error"))
        if code not in FAIR_LOSSES:
            refused[code] += 1
            bad("bid_refused", f"{b.rid} ({b.cents} cents) answered {dict(first)}", b.user)
        elif code == "too_low" and not (
            isinstance(first.get("min_cents"), int) and first["min_cents"] > b.cents
        ):
            bad("bid_refused", f"{b.rid} ({b.cents} cents) answered too_low with {dict(first)}", b.user)

    # -- each history on its own: rising, nothing after the end, one end
    for v in seen:
        prev: int | None = None
        for user, cents, _ends in v.bids:
            floor = start if prev is None else prev + increment
            if cents < floor:
                bad(
                    "bids_not_rising", f"{cents} cents by {user} after {prev} (the floor was {floor})", v.user
                )
                break
            prev = cents
        if not v.ends:
            if v.online:
                bad("end_missing", "online at the end, never got auction_end", v.user)
            continue
        if len(v.ends) > 1:
            bad("end_repeated", f"auction_end {len(v.ends)} times", v.user)
        after = v.bids[v.ends[0][3] :]
        late_acked = [b for b in after if (b[0], b[1]) in acked]
        if late_acked:
            bad(
                "acked_after_end", f"{len(late_acked)} acked bids after auction_end: {late_acked[:3]}", v.user
            )
        if len(after) > len(late_acked):
            bad("bid_after_end", f"{len(after) - len(late_acked)} bid events after auction_end", v.user)

    # -- the one sequence: what most viewers that saw it all saw
    whole = [v for v in seen if v.whole_show]
    if whole:
        reference = list(Counter(v.bids[: v.ends[0][3]] for v in whole).most_common(1)[0][0])
    else:
        reference = [(u, c, e) for u, c, e, _ts in ladder]
    for v in seen:
        mine_before_end = v.bids[: v.ends[0][3]] if v.ends else v.bids
        if v.whole_show:
            if list(mine_before_end) != reference:
                bad("histories_differ", f"{len(mine_before_end)} bids, most saw {len(reference)}", v.user)
        elif not _is_subsequence(mine_before_end, reference):
            bad("histories_differ", "a late joiner's bids are not among everyone's", v.user)
    if final is not None and whole and [(u, c, e) for u, c, e, _ts in ladder] != reference:
        bad("ladder_differs", f"the ladder holds {len(ladder)} bids, the viewers saw {len(reference)}")

    # -- the server's own times (the ladder): none taken at or after the end in force, ends as promised
    end_before = original_end
    for user, cents, ends, ts in ladder:
        if isinstance(ts, int) and ts >= end_before:
            bad("acked_after_end", f"{cents} cents taken at {ts}, the end was {end_before}", user)
        want = end_before if extend_ms == 0 or not isinstance(ts, int) else max(end_before, ts + extend_ms)
        if ends != want:
            bad("ends_at", f"ladder: {cents} cents at {ts} moved the end to {ends}, not {want}", user)
        end_before = ends if isinstance(ends, int) else end_before

    # -- the ends in the history, and every ack against it
    position = {(u, c): (i, e) for i, (u, c, e) in enumerate(reference)}
    last_end = original_end
    for user, cents, ends in reference:
        if extend_ms == 0 and ends != original_end:
            bad(
                "ends_at", f"sudden death, but {cents} cents says ends_at_ms {ends}, not {original_end}", user
            )
        elif extend_ms and ends < last_end:
            bad("ends_at", f"{cents} cents moved the end back to {ends} from {last_end}", user)
        last_end = max(last_end, ends)
    for (user, cents), b in acked.items():
        at = position.get((user, cents))
        ack = b.ack or {}
        if at is None:
            bad("acked_missing", f"{b.rid} acked {cents} cents, not in the history", user)
        elif ack.get("ends_at_ms") != at[1]:
            bad(
                "ends_at",
                f"{b.rid} acked with ends_at_ms {ack.get('ends_at_ms')}, its bid event {at[1]}",
                user,
            )

    lost_to_reconnect = 0
    unacked: dict[tuple[str, int], list[BidRecord]] = {}
    for b in mine:
        if b.ack is None:
            unacked.setdefault((b.user, b.cents), []).append(b)
    for user, cents, _ends in reference:
        if (user, cents) in acked:
            continue
        sent = unacked.get((user, cents), [])
        if any(b.first is None and b.disconnected for b in sent):
            lost_to_reconnect += 1  # taken, but the answer went down with a connection
        else:
            answered = [dict(b.first) for b in sent if b.first is not None]
            why = f"answered {answered[0]}" if answered else "no bot of this run was acked it"
            bad("bid_without_ack", f"{cents} cents in the history, {why}", user)

    # -- the winner and the order
    last = reference[-1] if reference else None
    want_winner = (last[0], last[1]) if last else (None, None)
    for v in seen:
        for winner, won_cents, _at, _pos in v.ends[:1]:
            if (winner, won_cents) != want_winner:
                bad("winner", f"auction_end says {winner} at {won_cents}, the last bid {want_winner}", v.user)
    final_end: int = last[2] if last else original_end
    if final is not None:
        server_winner = (_user_id(final.get("high_bidder")), final.get("high_cents"))
        if server_winner != want_winner:
            bad("winner", f"the server's auction says {server_winner}, the last bid {want_winner}")
        if isinstance(final.get("ends_at_ms"), int):
            if final["ends_at_ms"] != final_end:
                bad(
                    "ends_at",
                    f"the server's auction ends at {final['ends_at_ms']}, the last bid says {final_end}",
                )
            final_end = final["ends_at_ms"]
    order = None
    if orders is not None:
        won = [o for o in orders if o.get("id") == f"won-{auction_id}"]
        if len(won) == 1:
            order = won[0]
        if last is None and won:
            bad("order", f"{len(won)} orders won-{auction_id}, but nobody bid")
        elif last is not None and (
            len(won) != 1
            or _user_id(won[0].get("user")) != last[0]
            or won[0].get("total_cents") != last[1]
            or won[0].get("qty", 1) != 1
        ):
            bad("order", f"orders won-{auction_id}: {[dict(o) for o in won][:2]}, the winner {want_winner}")

    # -- figures
    timed = [b for b in mine if b.answered_us is not None and not b.disconnected]
    latencies = [b.answered_us - b.sent_us for b in timed if b.answered_us is not None]
    span_us = (
        max(b.answered_us for b in timed if b.answered_us) - min(b.sent_us for b in timed) if timed else 0
    )
    firsts = Counter(
        "accepted" if b.ack is not None else str(b.first.get("error")) if b.first else "unanswered"
        for b in mine
    )
    lateness = [
        at - final_end * 1000 for v in seen if v.ends and not v.reconnected for _w, _c, at, _p in v.ends[:1]
    ]
    figures = {
        "id": auction_id,
        "extend_s": extend_ms // 1000,
        "start_cents": start,
        "increment_cents": increment,
        "bidders": len({b.user for b in mine}),
        "bids_sent": len(mine),
        "retries": sum(1 for b in mine if b.retry),
        "accepted": firsts.get("accepted", 0),
        "too_low": firsts.get("too_low", 0),
        "ended": firsts.get("ended", 0),
        "refused": dict(refused),
        "unanswered": firsts.get("unanswered", 0),
        "lost_to_reconnect": lost_to_reconnect,
        "replays_sent": sum(b.repeats_sent for b in mine),
        "replays_identical": sum(
            1
            for b in mine
            if b.repeats_sent and len(b.answers) > 1 and all(a == b.answers[0] for a in b.answers)
        ),
        "bids_per_s": round(len(timed) / (span_us / 1e6), 1) if span_us > 0 else None,
        "ack_ms": percentiles_ms(latencies),
        "history_bids": len(reference),
        "viewers": len(seen),
        "whole_show_viewers": len(whole),
        "end_viewers": sum(1 for v in seen if v.ends),
        "original_end_ms": original_end,
        "final_end_ms": final_end,
        "end_moved_ms": final_end - original_end,
        "winner": want_winner[0],
        "cents": want_winner[1],
        "end_lateness_ms": {
            **percentiles_ms(lateness),
            "min": round(min(lateness) / 1000, 3) if lateness else None,
        },
        "server": None
        if final is None
        else {
            "state": final.get("state"),
            "bids": final.get("bids"),
            "high_cents": final.get("high_cents"),
            "ladder": len(ladder),
        },
        "order": None
        if order is None
        else {k: order.get(k) for k in ("id", "user", "qty", "total_cents", "state")},
    }
    return Judgement(figures, violations)


def summarize(judgements: Sequence[Judgement], extra: Collection[Violation] = ()) -> dict[str, Any]:
    """The report's ``auction`` section: per auction figures, and every violation (the first 50 listed)."""
    violations = [v for j in judgements for v in j.violations] + list(extra)
    return {
        "auctions": [j.figures for j in judgements],
        "violation_counts": dict(sorted(Counter(v.kind for v in violations).items())),
        "violations": [v.to_dict() for v in violations[:50]],
    }
