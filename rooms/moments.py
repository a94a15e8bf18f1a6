"""A replay's product moments, computed from the room's history. Pure: no I/O, no clock.

The history gives each durable event with the ms it was appended at (Redis's clock); the
recording sessions say when each file's zero was and how long it runs. A replay plays the
sessions one after the other, so its timeline is their durations end to end: an instant inside
a session maps to that session's start on the timeline plus the time since the session began;
an instant between two sessions (the host was away) maps to where the next session starts, one
before the first to 0, one after the last to the end. Without any recording the timeline is
the show itself, from the moment it went live.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class MomentKind(enum.Enum):
    PIN = "pin"
    PRICE = "price"
    SOLD_OUT = "sold_out"
    PIN_END = "pin_end"
    AUCTION = "auction"
    AUCTION_END = "auction_end"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Session:
    """One recording: its zero on the wall clock and its length."""

    started_ms: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class ReplayTimeline:
    """Where an instant of the show falls in the replay (``at_ms`` from its start)."""

    origin_ms: int  # the wall-clock ms at offset 0
    duration_ms: int
    sessions: tuple[Session, ...] = ()
    # Each session's start on the timeline, in order.
    starts: tuple[int, ...] = field(default=())

    def offset(self, ms: int) -> int:
        """The replay offset of wall-clock ``ms``, within 0 .. duration_ms."""
        if not self.sessions:
            return max(0, min(self.duration_ms, ms - self.origin_ms))
        for session, start in zip(self.sessions, self.starts, strict=True):
            if ms < session.started_ms:
                return start  # before this session: in the gap before it
            if ms < session.started_ms + session.duration_ms:
                return start + ms - session.started_ms
        return self.duration_ms


def replay_timeline(
    sessions: Sequence[Session], events: Iterable[tuple[int, Mapping[str, Any]]]
) -> ReplayTimeline:
    """The timeline of a replay of ``sessions`` (in order), or of the show's events without any."""
    if sessions:
        starts: list[int] = []
        total = 0
        for s in sessions:
            starts.append(total)
            total += s.duration_ms
        return ReplayTimeline(sessions[0].started_ms, total, tuple(sessions), tuple(starts))
    first = live = ended = last = None
    for ms, event in events:
        first = ms if first is None else first
        last = ms
        if event.get("t") == "room":
            if event.get("status") == "live" and live is None:
                live = ms
            elif event.get("status") == "ended":
                ended = ms
    origin = live if live is not None else first
    if origin is None:
        return ReplayTimeline(0, 0)
    end = ended if ended is not None else last
    assert end is not None
    return ReplayTimeline(origin, max(0, end - origin))


@dataclass(frozen=True, slots=True)
class Moment:
    """A chapter of the replay: ``at_ms`` into it, what happened, to which product."""

    at_ms: int
    kind: MomentKind
    title: str
    seq: int
    ref: str  # the pin, auction or drop id
    price_cents: int | None = None  # the price in force, the final price, the winning bid, the value
    product: str | None = None  # the product's id (a bag product's: still buyable in the replay)
    image_url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        ref_name = {"auction": "auction", "auction_end": "auction", "drop": "drop"}.get(
            self.kind.value, "pin"
        )
        out: dict[str, Any] = {
            "at_ms": self.at_ms,
            "kind": self.kind.value,
            "title": self.title,
            "seq": self.seq,
            ref_name: self.ref,
            "price_cents": self.price_cents,
            "product": self.product,
            "image_url": self.image_url,
        }
        out.update(self.extra)
        return out


DROP_TITLES = {"coupon": "Coupon", "envelope": "Red envelope"}


def product_moments(
    events: Iterable[tuple[int, Mapping[str, Any]]], timeline: ReplayTimeline
) -> list[Moment]:
    """The moments of a show, in the order they happened.

    A pin and an auction count once, when they went up (their later ``pin``/``auction`` events
    only restate them); every tier crossed is a ``price`` moment.
    """
    pins: dict[str, Mapping[str, Any]] = {}  # pin id -> its product
    prices: dict[str, int | None] = {}
    auctions: dict[str, Mapping[str, Any]] = {}
    out: list[Moment] = []
    for ms, e in events:
        t, seq, at = e.get("t"), int(e.get("seq", 0)), timeline.offset(ms)
        if t == "pin":
            pin = e["pin"]
            if pin["id"] in pins:
                continue
            product = pin.get("product") or {}
            pins[pin["id"]] = product
            prices[pin["id"]] = pin.get("price_cents")
            out.append(_product_moment(at, MomentKind.PIN, seq, pin["id"], product, pin.get("price_cents")))
        elif t == "price" and e.get("pin") in pins:
            prices[e["pin"]] = e.get("price_cents")
            out.append(
                _product_moment(
                    at,
                    MomentKind.PRICE,
                    seq,
                    e["pin"],
                    pins[e["pin"]],
                    e.get("price_cents"),
                    tier=e.get("tier"),
                )
            )
        elif t == "sold_out" and e.get("pin") in pins:
            out.append(
                _product_moment(at, MomentKind.SOLD_OUT, seq, e["pin"], pins[e["pin"]], prices.get(e["pin"]))
            )
        elif t == "pin_end" and e.get("pin") in pins:
            out.append(
                _product_moment(
                    at,
                    MomentKind.PIN_END,
                    seq,
                    e["pin"],
                    pins[e["pin"]],
                    e.get("final_price_cents"),
                    sold=e.get("sold"),
                )
            )
        elif t == "auction":
            auction = e["auction"]
            if auction["id"] in auctions:
                continue
            product = auction.get("product") or {}
            auctions[auction["id"]] = product
            out.append(
                _product_moment(
                    at, MomentKind.AUCTION, seq, auction["id"], product, auction.get("start_cents")
                )
            )
        elif t == "auction_end" and e.get("auction") in auctions:
            out.append(
                _product_moment(
                    at,
                    MomentKind.AUCTION_END,
                    seq,
                    e["auction"],
                    auctions[e["auction"]],
                    e.get("cents"),
                    winner=e.get("winner"),
                )
            )
        elif t == "drop":
            drop = e["drop"]
            kind = drop.get("kind", "")
            value = drop.get("value_cents") if kind == "coupon" else drop.get("total_cents")
            out.append(
                Moment(
                    at,
                    MomentKind.DROP,
                    DROP_TITLES.get(kind, "Drop"),
                    seq,
                    drop["id"],
                    value,
                    extra={"drop_kind": kind, "count": drop.get("count")},
                )
            )
    return out


def _product_moment(
    at: int,
    kind: MomentKind,
    seq: int,
    ref: str,
    product: Mapping[str, Any],
    price_cents: int | None,
    **extra: Any,
) -> Moment:
    return Moment(
        at,
        kind,
        str(product.get("title") or ""),
        seq,
        ref,
        price_cents,
        product.get("id"),
        product.get("image_url"),
        extra,
    )
