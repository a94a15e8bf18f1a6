"""One viewer's part in an auction (contract §11): snipe it, and write down everything it saw.

When a viewer first sees a live auction (its durable ``auction`` event, or a hello's snapshot) it
plans 1-3 bids at random instants of the last ``snipe_window_s`` before the auction's end, some up
to ``BID_LATE_S`` after it (they must be refused ``ended``). Each bid offers the minimum the viewer
last saw (the highest ``bid`` event + the increment, or ``start_cents``) or a little above; a
``too_low`` answer names the minimum, and about half the bidders retry once at it. One bidder in
ten (``Plan.bid_replays``) re-sends its first acked bid's id: the identical ack is owed.

The history (``bid`` events and ``auction_end``, in order) is kept per auction; the judging is
``bots.auction_checks``, this only records. The instants are read on this machine's clock against
the server's ``ends_at_ms``, so bots and server should share a clock (one machine, or NTP).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import orjson

from bots.auction_checks import AuctionView, BidEvent, BidRecord, EndEvent, answer_of, is_ack
from bots.plan import BID_LATE_S, BID_RETRY_SHARE, BIDS_PER_BIDDER

if TYPE_CHECKING:
    from bots.viewer import Viewer

AUCTION_EVENTS = frozenset({"auction", "bid", "auction_end"})
BID_KINDS = frozenset({"bid", "bid_retry", "bid_replay"})


class Bid:
    """One bid request (one id) and its answers."""

    __slots__ = (
        "answered_us",
        "answers",
        "auction",
        "cents",
        "disconnected",
        "frame",
        "repeats_sent",
        "retry",
        "rid",
        "sent_us",
    )

    def __init__(self, auction: str, rid: str, cents: int, frame: bytes, sent_us: int, retry: bool) -> None:
        self.auction = auction
        self.rid = rid
        self.cents = cents
        self.frame = frame
        self.sent_us = sent_us
        self.retry = retry
        self.answered_us: int | None = None
        self.answers: list[dict[str, Any]] = []
        self.repeats_sent = 0
        self.disconnected = False

    def record(self, user: str) -> BidRecord:
        return BidRecord(
            user=user,
            auction=self.auction,
            rid=self.rid,
            cents=self.cents,
            retry=self.retry,
            sent_us=self.sent_us,
            answered_us=self.answered_us,
            answers=tuple(self.answers),
            repeats_sent=self.repeats_sent,
            disconnected=self.disconnected,
        )


class Watch:
    """One auction as this viewer saw it."""

    __slots__ = (
        "bids",
        "ends",
        "floor",
        "gaps",
        "high",
        "id",
        "increment",
        "missed_at_up",
        "planned",
        "reconnected",
        "saw_up",
        "start",
        "timers",
    )

    def __init__(self, auction: dict[str, Any], saw_up: bool, missed: int) -> None:
        self.id = str(auction["id"])
        start, increment, high = (
            auction.get("start_cents"),
            auction.get("increment_cents"),
            auction.get("high_cents"),
        )
        self.start = start if isinstance(start, int) else 0
        self.increment = increment if isinstance(increment, int) and increment > 0 else 1
        self.high: int | None = high if isinstance(high, int) else None  # the highest bid seen
        self.floor = 0  # the highest too_low min_cents this viewer was told
        self.saw_up = saw_up
        self.missed_at_up = missed
        self.gaps: int | None = None  # durable events missed between going up and the first end
        self.reconnected = False
        self.bids: list[BidEvent] = []
        self.ends: list[EndEvent] = []
        self.planned = 0  # bids planned whose instant has not come yet
        self.timers: list[asyncio.TimerHandle] = []

    def minimum(self) -> int:
        """The lowest bid that would be accepted, as far as this viewer knows."""
        seen = self.start if self.high is None else self.high + self.increment
        return max(seen, self.floor)


class Bidder:
    """Owned by a viewer; the viewer hands it auction events, hellos and the answers to bid kinds."""

    __slots__ = ("active", "by_rid", "k", "replayed", "replays", "seen_ended", "sent", "viewer", "watches")

    def __init__(self, viewer: Viewer, *, active: bool, replays: bool) -> None:
        self.viewer = viewer
        self.active = active  # bids (else it only watches: an anonymous viewer)
        self.replays = replays
        self.replayed = False
        self.watches: dict[str, Watch] = {}  # auctions seen live -> what this viewer saw of them
        self.seen_ended: set[str] = set()  # auctions first seen already ended: nothing owed
        self.sent: list[Bid] = []
        self.by_rid: dict[str, Bid] = {}
        self.k = 0

    # -- state for the parent -------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.viewer.is_open

    def busy(self) -> bool:
        """A bid is still to be sent, or waits for its answer (or for a reconnect)."""
        if any(w.planned for w in self.watches.values()):
            return True
        v = self.viewer
        return any(rid in v.pending or rid in v.resend for rid in self.by_rid)

    def settled(self, auction: str) -> bool:
        """Nothing more is owed to this viewer of that auction: its end came, its bids are answered."""
        if auction in self.seen_ended:
            return True
        w = self.watches.get(auction)
        return w is not None and bool(w.ends) and not self.busy()

    def known(self) -> set[str]:
        return set(self.watches) | self.seen_ended

    def missed(self) -> int:
        """Durable events this viewer has missed so far (a jump, or a resume refused as too old)."""
        seq = self.viewer.seq
        return seq.missing + seq.resume_too_old

    # -- events ---------------------------------------------------------------------

    def on_event(self, t: str, ev: dict[str, Any]) -> None:
        if t == "bid":
            w = self.watches.get(str(ev.get("auction")))
            user, cents, ends = ev.get("user"), ev.get("cents"), ev.get("ends_at_ms")
            if w is None or not isinstance(cents, int):
                return
            uid = str(user.get("id")) if isinstance(user, dict) else str(user)
            # One tuple per bid event in the whole worker: the histories share them.
            w.bids.append(self.viewer.worker.intern((uid, cents, ends if isinstance(ends, int) else -1)))
            w.high = cents if w.high is None else max(w.high, cents)
        elif t == "auction_end":
            w = self.watches.get(str(ev.get("auction")))
            if w is not None:
                winner, cents = ev.get("winner"), ev.get("cents")
                wid = str(winner.get("id")) if isinstance(winner, dict) else None
                w.ends.append(
                    (wid, cents if isinstance(cents, int) else None, time.time_ns() // 1000, len(w.bids))
                )
                if w.gaps is None:
                    w.gaps = self.missed() - w.missed_at_up
        elif t == "auction":
            auction = ev.get("auction")
            if isinstance(auction, dict):
                self.on_auction(auction, durable=True)

    def on_auction(self, auction: dict[str, Any], *, durable: bool) -> None:
        """An auction object (from an ``auction`` event or a hello): watch it, and plan bids once."""
        auction_id = auction.get("id")
        if not isinstance(auction_id, str) or auction_id in self.watches or auction_id in self.seen_ended:
            return
        if auction.get("state") not in ("live", "upcoming"):
            self.seen_ended.add(auction_id)
            return
        w = self.watches[auction_id] = Watch(auction, durable, self.missed())
        ends = auction.get("ends_at_ms")
        if self.active and isinstance(ends, int):
            self._plan(w, ends)

    def on_hello(self, ev: dict[str, Any]) -> None:
        """After the viewer re-sent what was pending: a reconnect for the auctions running, and the
        hello's auction."""
        for w in self.watches.values():
            if not w.ends:
                w.reconnected = True
        auction = ev.get("auction")
        if isinstance(auction, dict):
            self.on_auction(auction, durable=False)

    def lost(self, rid: str) -> None:
        """A connection ended while this bid waited for its answer (the viewer re-sends it)."""
        bid = self.by_rid.get(rid)
        if bid is not None:
            bid.disconnected = True

    def on_answer(self, kind: str, rid: str, ev: dict[str, Any], now_us: int) -> None:
        bid = self.by_rid.get(rid)
        v = self.viewer
        if bid is None:
            v.worker.stats.count("unexpected_acks")
            return
        answer = answer_of(ev)
        bid.answers.append(answer)
        if kind == "bid_replay" or bid.answered_us is not None:
            return
        bid.answered_us = now_us
        if is_ack(answer):
            v.worker.second_now().counts["bids_acked"] += 1
            if self.replays and not self.replayed:
                self.replayed = True
                bid.repeats_sent += 1
                v.send_request(rid, "bid_replay", bid.frame, now_us)
            return
        w = self.watches.get(bid.auction)
        minimum = answer.get("min_cents")
        if answer.get("error") != "too_low" or w is None or not isinstance(minimum, int):
            return
        w.floor = max(w.floor, minimum)
        rng = v.worker.rng
        if not bid.retry and v.worker.activity and rng.random() < BID_RETRY_SHARE:
            self._send(w, minimum, retry=True)

    # -- sending --------------------------------------------------------------------

    def _plan(self, w: Watch, ends_at_ms: int) -> None:
        """1-3 instants in the last snipe window, some after the end, on this machine's clock."""
        v = self.viewer
        plan = v.worker.plan.auction
        window = plan.snipe_window_s if plan is not None else 2.0
        rng = v.worker.rng
        now = time.time()
        for _ in range(rng.randint(*BIDS_PER_BIDDER)):
            at = ends_at_ms / 1000 - window + rng.random() * (window + BID_LATE_S)
            w.planned += 1
            w.timers.append(v.worker.loop.call_later(max(0.0, at - now), self._fire, w))

    def _fire(self, w: Watch) -> None:
        w.planned -= 1
        v = self.viewer
        if not v.worker.activity:
            return
        if not v.is_open:
            v.worker.stats.count("bids_skipped_offline")
            return
        minimum = w.minimum()
        rng = v.worker.rng
        # The minimum as last seen, or a little above it (up to two increments).
        cents = minimum if rng.random() < 0.5 else minimum + rng.randint(1, 2 * w.increment)
        self._send(w, cents, retry=False)

    def _send(self, w: Watch, cents: int, *, retry: bool) -> None:
        v = self.viewer
        self.k += 1
        rid = f"a{self.k}"
        frame = orjson.dumps({"t": "bid", "id": rid, "auction": w.id, "cents": cents})
        now_us = time.time_ns() // 1000
        if not v.send_request(rid, "bid_retry" if retry else "bid", frame, now_us):
            v.worker.stats.count("bids_skipped_offline")
            return
        bid = Bid(w.id, rid, cents, frame, now_us, retry)
        self.sent.append(bid)
        self.by_rid[rid] = bid
        v.worker.second_now().counts["bids_sent"] += 1

    def cancel(self) -> None:
        for w in self.watches.values():
            for timer in w.timers:
                timer.cancel()
            w.planned = 0

    # -- the record -----------------------------------------------------------------

    def records(self) -> list[BidRecord]:
        return [b.record(self.viewer.sub) for b in self.sent]

    def views(self, online: bool) -> list[AuctionView]:
        missed = self.missed()
        return [
            AuctionView(
                user=self.viewer.sub,
                auction=w.id,
                bids=tuple(w.bids),
                ends=tuple(w.ends),
                saw_up=w.saw_up,
                gaps=w.gaps if w.gaps is not None else missed - w.missed_at_up,
                reconnected=w.reconnected,
                online=online,
            )
            for w in self.watches.values()
        ]
