"""Judging a drop (contract §10), pure: the bots' grabs and what the server says, in; violations out.

Nothing here reads a clock or touches a socket. The workers record every grab (``GrabRecord``:
each answer its id got, the repeats, whether its socket was dropped) and every viewer's
``drop_end`` events (``DropView``); after the run the parent reads the drop back as host
(``GET /api/rooms/{room}/drops/{drop}``) and a sample of the grabbers' wallets and coupons
(``UserSample``), and ``judge_drop`` / ``judge_samples`` list every broken promise.

The promises checked: exactly ``min(count, grabbers)`` grabs taken; each acked grab in the server's
list with the same cents or coupon, each listed grab accounted for by an ack (a grab whose ack was
lost to a reconnect may be listed: counted, not a violation), nobody twice; envelopes of at least a
cent adding up to ``total_cents - left_cents`` (all of it once all are taken); one id, one answer;
a second grab refused with ``limit_reached``; ``drop_end`` exactly once per viewer with the
server's ``claimed``; wallets and coupons that match the acks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# A grab answered with one of these lost fairly: the drop was all taken, or its window closed.
FAIR_LOSSES = frozenset({"gone", "ended"})
SECOND_GRAB_ANSWER = {"error": "limit_reached"}

# Every kind of violation, with what it means (the report's failures name them ``drop_<kind>``).
VIOLATIONS = {
    "unreadable": "the drop could not be read back from the server",
    "not_ended": "the drop was still live after its window",
    "grab_count": "the server's list of grabs is not min(count, grabbers) long",
    "claimed": "the drop's claimed or left disagrees with its list of grabs",
    "duplicate_user": "a user appears more than once in the server's list",
    "acked_missing": "an acked grab is not in the server's list",
    "acked_differs": "an acked grab's cents or coupon differ from the server's",
    "grab_without_ack": "a grab in the server's list that no ack accounts for",
    "grab_refused": "a grab answered with an error other than gone or ended",
    "same_id_different": "a grab id sent again got a different answer than its ack",
    "second_not_refused": "a second grab (a new id) after a win was not answered limit_reached",
    "envelope_cents": "an envelope of less than 1 cent",
    "envelope_sum": "the envelopes do not add up to total_cents - left_cents (all of it when all are taken)",
    "coupon_value": "a coupon whose value or min_spend is not the drop's",
    "coupon_clash": "one coupon id given to two grabs",
    "drop_end_missing": "a viewer online at the end that never got drop_end",
    "drop_end_repeated": "a viewer that got drop_end more than once",
    "drop_end_claimed": "a drop_end whose claimed is not the server's",
    "wallet": "a sampled grabber's wallet differs from the cents the grabber was acked",
    "coupons": "a sampled grabber's coupons of a drop differ from the coupon the grabber was acked",
}

Answer = Mapping[str, Any]  # {"cents": N} | {"coupon": {...}} | {"error": code}


def answer_of(ev: Mapping[str, Any]) -> dict[str, Any]:
    """A grab's ``ack`` or ``error`` event as an answer that compares equal when it is the same."""
    if ev.get("t") == "error":
        return {"error": str(ev.get("code"))}
    envelope = ev.get("envelope")
    if isinstance(envelope, dict):
        return {"cents": envelope.get("cents")}
    coupon = ev.get("coupon")
    if isinstance(coupon, dict):
        return {"coupon": dict(coupon)}
    return {"error": "ack_without_prize"}


def is_win(answer: Answer | None) -> bool:
    return answer is not None and "error" not in answer


@dataclass(frozen=True, slots=True)
class GrabRecord:
    """One bot's grab of one drop, as its worker saw it."""

    user: str
    drop: str
    rid: str
    sent_us: int = 0
    answered_us: int | None = None  # when the first answer came
    answers: tuple[Answer, ...] = ()  # every answer to this id, in order: the first, then repeats
    repeats_sent: int = 0  # times the same id was sent again (after the ack, or after a reconnect)
    second_sent: bool = False  # a second grab with a new id, after a win
    second: Answer | None = None  # its answer (None: not sent, or never answered)
    reconnected: bool = False  # dropped its socket right after sending, on purpose
    disconnected: bool = False  # some connection ended while a request of this grab waited

    @property
    def first(self) -> Answer | None:
        return self.answers[0] if self.answers else None

    @property
    def win(self) -> Answer | None:
        """The ack, if any answer was one."""
        return next((a for a in self.answers if is_win(a)), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "drop": self.drop,
            "rid": self.rid,
            "sent_us": self.sent_us,
            "answered_us": self.answered_us,
            "answers": [dict(a) for a in self.answers],
            "repeats_sent": self.repeats_sent,
            "second_sent": self.second_sent,
            "second": None if self.second is None else dict(self.second),
            "reconnected": self.reconnected,
            "disconnected": self.disconnected,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GrabRecord:
        second = d.get("second")
        return cls(
            user=str(d["user"]),
            drop=str(d["drop"]),
            rid=str(d["rid"]),
            sent_us=int(d.get("sent_us") or 0),
            answered_us=d.get("answered_us"),
            answers=tuple(dict(a) for a in d.get("answers", ())),
            repeats_sent=int(d.get("repeats_sent") or 0),
            second_sent=bool(d.get("second_sent")),
            second=None if second is None else dict(second),
            reconnected=bool(d.get("reconnected")),
            disconnected=bool(d.get("disconnected")),
        )


@dataclass(frozen=True, slots=True)
class DropView:
    """What one viewer that saw a drop live got of its end: the ``claimed`` of each drop_end."""

    user: str
    drop: str
    ends: tuple[int, ...] = ()
    online: bool = True  # connected when the run ended (an offline viewer may have missed it)

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "drop": self.drop, "ends": list(self.ends), "online": self.online}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DropView:
        return cls(
            str(d["user"]), str(d["drop"]), tuple(int(c) for c in d.get("ends", ())), bool(d["online"])
        )


@dataclass(frozen=True, slots=True)
class UserSample:
    """A sampled grabber's ``GET /api/me/wallet`` cents and ``GET /api/me/coupons`` ids by drop."""

    user: str
    wallet_cents: int
    coupons: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    drop: str | None
    detail: str
    user: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "drop": self.drop, "user": self.user, "detail": self.detail}


@dataclass
class Judgement:
    figures: dict[str, Any]
    violations: list[Violation]


def _server_prize(grab: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """A server list entry in the shape of an answer, to compare with the ack."""
    if kind == "envelope":
        return {"cents": grab.get("cents")}
    coupon = grab.get("coupon")
    return {"coupon": dict(coupon) if isinstance(coupon, dict) else None}


def _user_of(grab: Mapping[str, Any]) -> str:
    user = grab.get("user")
    return str(user.get("id")) if isinstance(user, dict) else str(user)


def percentiles_ms(latencies_us: Sequence[int]) -> dict[str, Any]:
    """Nearest-rank p50/p95/p99 and max of exact latencies, in ms."""
    if not latencies_us:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(latencies_us)

    def rank(q: float) -> float:
        index = max(0, min(len(ordered) - 1, -(-len(ordered) * q // 100) - 1))
        return round(ordered[int(index)] / 1000, 3)

    return {
        "count": len(ordered),
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "max": round(ordered[-1] / 1000, 3),
    }


def judge_drop(drop: Mapping[str, Any], grabs: Iterable[GrabRecord], views: Iterable[DropView]) -> Judgement:
    """Everything the bots can check of one drop; ``drop`` is the server's drop with its ``grabs``.

    ``grabs``: the bots' grabs of this drop (one record per grabbing bot); ``views``: every
    viewer that saw it live.
    """
    drop_id = str(drop.get("id"))
    kind = str(drop.get("kind"))
    count = int(drop.get("count") or 0)
    mine = [g for g in grabs if g.drop == drop_id]
    violations: list[Violation] = []

    def bad(what: str, detail: str, user: str | None = None) -> None:
        violations.append(Violation(what, drop_id, detail, user))

    listed = [g for g in drop.get("grabs") or [] if isinstance(g, dict)]
    by_user: dict[str, Mapping[str, Any]] = {}
    for entry in listed:
        user = _user_of(entry)
        if user in by_user:
            bad("duplicate_user", "listed more than once", user)
        by_user.setdefault(user, entry)

    # -- the drop as a whole
    claimed, left = drop.get("claimed"), drop.get("left")
    if drop.get("state") != "ended":
        bad("not_ended", f"state {drop.get('state')!r} after the run")
    if claimed != len(listed) or left != count - len(listed):
        bad("claimed", f"claimed {claimed}, left {left}, count {count}, {len(listed)} grabs listed")
    grabbers = {g.user for g in mine}
    expected = min(count, len(grabbers))
    if len(listed) != expected:
        bad(
            "grab_count",
            f"{len(listed)} grabs listed, min(count {count}, grabbers {len(grabbers)}) = {expected}",
        )

    # -- each bot's grab against the list
    lost_to_reconnect = 0
    refused: Counter[str] = Counter()
    for g in mine:
        win = g.win
        listing = by_user.get(g.user)
        for answer in g.answers:
            if win is not None and dict(answer) != dict(win):
                bad("same_id_different", f"{g.rid}: {answer} after the ack {win}", g.user)
                break
        if win is not None:
            if listing is None:
                bad("acked_missing", f"{g.rid} acked {win}", g.user)
            elif _server_prize(listing, kind) != win:
                bad("acked_differs", f"{g.rid} acked {win}, listed {_server_prize(listing, kind)}", g.user)
            if g.second_sent and g.second is not None and g.second != SECOND_GRAB_ANSWER:
                bad("second_not_refused", f"second grab answered {g.second}", g.user)
            continue
        first = g.first
        if first is not None and first.get("error") not in FAIR_LOSSES:
            refused[str(first.get("error"))] += 1
            bad("grab_refused", f"{g.rid} answered {first}", g.user)
        if listing is not None:
            if first is None and g.disconnected:
                lost_to_reconnect += 1  # taken, but the answer went down with a connection
            else:
                bad("grab_without_ack", f"listed, but {g.rid} was answered {first}", g.user)
    for user in by_user.keys() - grabbers:
        bad("grab_without_ack", "listed, but no bot of this run grabbed", user)

    # -- the prizes
    if kind == "envelope":
        cents = [e.get("cents") for e in listed]
        if any(not isinstance(c, int) or c < 1 for c in cents):
            bad(
                "envelope_cents",
                f"amounts below 1 cent: {[c for c in cents if not isinstance(c, int) or c < 1][:5]}",
            )
        total, left_cents = drop.get("total_cents"), drop.get("left_cents")
        got = sum(c for c in cents if isinstance(c, int))
        if not isinstance(total, int) or not isinstance(left_cents, int) or got != total - left_cents:
            bad("envelope_sum", f"{got} cents listed, total {total}, left {left_cents}")
        elif left == 0 and left_cents != 0:
            bad("envelope_sum", f"all taken but {left_cents} of {total} cents left")
    else:
        terms = (drop.get("value_cents"), drop.get("min_spend_cents"))
        coupons: list[dict[str, Any]] = []
        for item in listed:
            raw = item.get("coupon")
            coupon: dict[str, Any] = raw if isinstance(raw, dict) else {}
            coupons.append(coupon)
            if (coupon.get("value_cents"), coupon.get("min_spend_cents")) != terms:
                bad("coupon_value", f"coupon {coupon}, the drop's terms {terms}", _user_of(item))
        for coupon_id, n in Counter(c.get("id") for c in coupons).items():
            if n > 1:
                bad("coupon_clash", f"coupon {coupon_id} listed {n} times")

    # -- drop_end, once per viewer, with the server's count
    ends_seen = 0
    for view in views:
        if view.drop != drop_id:
            continue
        if not view.ends:
            if view.online:
                bad("drop_end_missing", "online at the end, never got drop_end", view.user)
            continue
        ends_seen += 1
        if len(view.ends) > 1:
            bad("drop_end_repeated", f"drop_end {len(view.ends)} times", view.user)
        if any(c != claimed for c in view.ends):
            bad("drop_end_claimed", f"drop_end claimed {list(view.ends)}, server {claimed}", view.user)

    # Timed: the grabs answered on the connection they were sent on (a reconnect's time is not theirs).
    answered = [g for g in mine if g.answered_us is not None and not (g.reconnected or g.disconnected)]
    latencies = [g.answered_us - g.sent_us for g in answered if g.answered_us is not None]
    span_us = (
        max(g.answered_us for g in answered if g.answered_us is not None) - min(g.sent_us for g in answered)
        if answered
        else 0
    )
    firsts = Counter(
        "acked" if g.win is not None else str(g.first.get("error")) if g.first else "unanswered" for g in mine
    )
    figures = {
        "id": drop_id,
        "kind": kind,
        "count": count,
        "task": drop.get("task"),
        "grabbers": len(grabbers),
        "acked": sum(1 for g in mine if g.win is not None),
        "gone": firsts.get("gone", 0),
        "ended": firsts.get("ended", 0),
        "refused": dict(refused),
        "unanswered": firsts.get("unanswered", 0),
        "lost_to_reconnect": lost_to_reconnect,
        "reconnected": sum(1 for g in mine if g.reconnected),
        "repeats_sent": sum(g.repeats_sent for g in mine),
        "second_grabs": sum(1 for g in mine if g.second_sent),
        "limit_reached": sum(1 for g in mine if g.second == SECOND_GRAB_ANSWER),
        "drop_end_viewers": ends_seen,
        "grabs_per_s": round(len(answered) / (span_us / 1e6), 1) if span_us > 0 else None,
        "ack_ms": percentiles_ms(latencies),
        "server": {
            "state": drop.get("state"),
            "claimed": claimed,
            "left": left,
            "listed": len(listed),
            **(
                {
                    "total_cents": drop.get("total_cents"),
                    "left_cents": drop.get("left_cents"),
                    "cents_listed": sum(
                        e.get("cents") or 0 for e in listed if isinstance(e.get("cents"), int)
                    ),
                }
                if kind == "envelope"
                else {"value_cents": drop.get("value_cents"), "min_spend_cents": drop.get("min_spend_cents")}
            ),
        },
    }
    return Judgement(figures, violations)


def judge_samples(
    samples: Iterable[UserSample], grabs: Iterable[GrabRecord], kinds: Mapping[str, str]
) -> list[Violation]:
    """Sampled wallets and coupons against the acks. ``kinds``: the run's drops, id -> kind.

    A user with a grab that was never answered is skipped: the server may have taken it.
    """
    by_user: dict[str, list[GrabRecord]] = {}
    for g in grabs:
        if g.drop in kinds:
            by_user.setdefault(g.user, []).append(g)
    violations = []
    for sample in samples:
        mine = by_user.get(sample.user, [])
        if any(not g.answers for g in mine):
            continue
        wins = {g.drop: g.win for g in mine if g.win is not None}
        cents = sum(int(w.get("cents") or 0) for d, w in wins.items() if kinds[d] == "envelope")
        if sample.wallet_cents != cents:
            violations.append(
                Violation("wallet", None, f"wallet {sample.wallet_cents} cents, acked {cents}", sample.user)
            )
        for drop_id, kind in kinds.items():
            if kind != "coupon":
                continue
            win = wins.get(drop_id)
            want = (
                frozenset({str(win["coupon"].get("id"))})
                if win and isinstance(win.get("coupon"), dict)
                else frozenset()
            )
            have = sample.coupons.get(drop_id, frozenset())
            if have != want:
                violations.append(
                    Violation(
                        "coupons", drop_id, f"coupons {sorted(have)}, acked {sorted(want)}", sample.user
                    )
                )
    return violations


def summarize(judgements: Sequence[Judgement], extra: Collection[Violation] = ()) -> dict[str, Any]:
    """The report's ``drops`` section: per drop figures, and every violation (the first 50 listed)."""
    violations = [v for j in judgements for v in j.violations] + list(extra)
    return {
        "drops": [j.figures for j in judgements],
        "violation_counts": dict(sorted(Counter(v.kind for v in violations).items())),
        "violations": [v.to_dict() for v in violations[:50]],
    }
