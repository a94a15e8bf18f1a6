"""What one worker measured, in a form that merges exactly with the other workers'.

A worker records into one ``Stats``; at the end it sends ``to_dict()`` to the
parent, which rebuilds each with ``from_dict`` and folds them together with
``merge``. Every field is a sum, a histogram, a keyed count or a list, so the
merge is plain addition and the order of the workers does not matter.

Times on the timeline are whole seconds since the run's start (``t0``, a wall
clock value the parent hands every worker, so all workers agree on second 0).
Latencies are recorded in microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bots.hist import Histogram

# Histograms every Stats carries (all in microseconds).
HISTOGRAMS = (
    "delivery",  # chat post sent -> the chat event arrives at a viewer (every viewer)
    "chat_ack",  # chat post sent -> its ack arrives at the poster
    "buy_ack",  # buy sent -> its ack or error arrives at the buyer
    "grab_ack",  # a drop's grab sent -> its first answer (grabs whose connection dropped left out)
    "connect",  # TCP connect started -> hello received
    "loop_lag",  # how late the worker's event loop woke a 50 ms timer (bot-side delay)
)

# Per-second counts on the timeline.
SECOND_FIELDS = (
    "frames",  # WebSocket frames received
    "events",  # events received (a frame holds one or more)
    "deliveries",  # chat events carrying a bot send time, received by any viewer
    "chat_sent",
    "chat_acked",
    "likes_sent",
    "buys_sent",
    "buys_acked",
    "units_acked",
    "grabs_sent",  # first grabs of a drop (not the repeats)
    "grabs_acked",  # of those, answered with a prize
    "bids_sent",  # auction bids (each a new id: first bids and too_low retries, not the replays)
    "bids_acked",  # of those, accepted
    "errors",  # error events received
    "connects",  # hello received (first connections and reconnections)
    "disconnects",  # connections that ended before the run asked them to
    "connect_failures",  # connection attempts that failed before hello
)


class Second:
    """The counts of one second of the run, and the delivery latencies seen in it."""

    __slots__ = ("counts", "latency", "open")

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(SECOND_FIELDS, 0)
        self.latency = Histogram()
        self.open = 0  # connections open at the last sample within this second (a gauge)

    def merge(self, other: Second) -> None:
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        self.latency.merge(other.latency)
        self.open += other.open  # gauges of different workers add up

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "latency": self.latency.to_dict(), "open": self.open}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Second:
        second = cls()
        second.counts.update({k: int(v) for k, v in data.get("counts", {}).items()})
        second.latency = Histogram.from_dict(data.get("latency", {}))
        second.open = int(data.get("open", 0))
        return second


class Stats:
    """Everything one worker (or, after merging, the whole swarm) measured."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}  # totals: see docs/bots.md for each name
        self.errors: dict[str, int] = {}  # error events by contract code
        self.closes: dict[str, int] = {}  # unexpected connection ends by close code ("1006" = no close frame)
        self.connect_errors: dict[str, int] = {}  # failed connection attempts by cause
        self.hists: dict[str, Histogram] = {name: Histogram() for name in HISTOGRAMS}
        self.timeline: dict[int, Second] = {}
        # Acked orders as (user, request id, order); the parent's SaleLedger checks them.
        self.orders: list[tuple[str, str, dict[str, Any]]] = []
        # The last state of each pin a viewer saw: stock_total, limit_per_user, tier prices, sold.
        self.pins: dict[str, dict[str, Any]] = {}
        # --share-ratio: viewer user id -> the sharer whose link it connected through.
        self.attributed: dict[str, str] = {}
        self.workers: list[dict[str, Any]] = []  # one entry per worker process: cpu, lag, viewers
        # Drops: every bot's grab of every drop (GrabRecord.to_dict), and every viewer's view of each
        # drop it saw live (DropView.to_dict): bots.drop_checks judges them against the server.
        self.grabs: list[dict[str, Any]] = []
        self.drop_views: list[dict[str, Any]] = []
        # A few grabbers' tokens (user -> token), for the parent to read their wallets and coupons.
        self.sample_tokens: dict[str, str] = {}
        # Auctions: every bid a bot sent (BidRecord.to_dict) and every viewer's history of each auction
        # it saw live (AuctionView.to_dict): bots.auction_checks judges them against the server.
        self.bids: list[dict[str, Any]] = []
        self.auction_views: list[dict[str, Any]] = []

    # -- recording -------------------------------------------------------

    def second(self, index: int) -> Second:
        """The timeline entry for second ``index`` (created on first use)."""
        second = self.timeline.get(index)
        if second is None:
            second = self.timeline[index] = Second()
        return second

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def note_pin(self, pin: Mapping[str, Any]) -> None:
        """Keep what the ledger needs from a ``pin`` object seen in hello or a pin event."""
        pin_id = pin.get("id")
        if not isinstance(pin_id, str):
            return
        entry = self.pins.setdefault(pin_id, {})
        for key in ("stock_total", "limit_per_user", "state", "price_cents"):
            if key in pin:
                entry[key] = pin[key]
        tiers = pin.get("tiers")
        if isinstance(tiers, list):
            entry["prices"] = sorted(
                {t["price_cents"] for t in tiers if isinstance(t, dict) and "price_cents" in t}
            )

    # -- merging ---------------------------------------------------------

    def merge(self, other: Stats) -> Stats:
        """Fold another worker's stats into this one; returns self."""
        for mine, theirs in (
            (self.counters, other.counters),
            (self.errors, other.errors),
            (self.closes, other.closes),
            (self.connect_errors, other.connect_errors),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        for name, hist in other.hists.items():
            self.hists.setdefault(name, Histogram()).merge(hist)
        for index, second in other.timeline.items():
            self.second(index).merge(second)
        self.orders.extend(other.orders)
        for pin_id, info in other.pins.items():
            entry = self.pins.setdefault(pin_id, {})
            for key, value in info.items():
                if key == "prices":
                    entry["prices"] = sorted(set(entry.get("prices", [])) | set(value))
                elif key == "sold":
                    entry["sold"] = max(entry.get("sold", 0), value)
                else:
                    entry.setdefault(key, value)
        self.attributed.update(other.attributed)
        self.workers.extend(other.workers)
        self.grabs.extend(other.grabs)
        self.drop_views.extend(other.drop_views)
        self.sample_tokens.update(other.sample_tokens)
        self.bids.extend(other.bids)
        self.auction_views.extend(other.auction_views)
        return self

    @classmethod
    def merged(cls, parts: list[Stats]) -> Stats:
        total = cls()
        for part in parts:
            total.merge(part)
        return total

    def delivery_latency(self) -> Histogram:
        """All delivery latencies of the run (the timeline's seconds merged)."""
        total = Histogram()
        for second in self.timeline.values():
            total.merge(second.latency)
        return total

    # -- transport -------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "counters": dict(self.counters),
            "errors": dict(self.errors),
            "closes": dict(self.closes),
            "connect_errors": dict(self.connect_errors),
            "hists": {name: hist.to_dict() for name, hist in self.hists.items()},
            "timeline": {str(i): s.to_dict() for i, s in sorted(self.timeline.items())},
            "orders": [[user, rid, order] for user, rid, order in self.orders],
            "pins": {k: dict(v) for k, v in self.pins.items()},
            "attributed": dict(self.attributed),
            "workers": list(self.workers),
            "grabs": list(self.grabs),
            "drop_views": list(self.drop_views),
            "sample_tokens": dict(self.sample_tokens),
            "bids": list(self.bids),
            "auction_views": list(self.auction_views),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stats:
        stats = cls()
        stats.counters = {k: int(v) for k, v in data.get("counters", {}).items()}
        stats.errors = {k: int(v) for k, v in data.get("errors", {}).items()}
        stats.closes = {k: int(v) for k, v in data.get("closes", {}).items()}
        stats.connect_errors = {k: int(v) for k, v in data.get("connect_errors", {}).items()}
        for name, hist in data.get("hists", {}).items():
            stats.hists[name] = Histogram.from_dict(hist)
        stats.timeline = {int(i): Second.from_dict(s) for i, s in data.get("timeline", {}).items()}
        stats.orders = [(str(u), str(r), dict(o)) for u, r, o in data.get("orders", [])]
        stats.pins = {k: dict(v) for k, v in data.get("pins", {}).items()}
        stats.attributed = {str(k): str(v) for k, v in data.get("attributed", {}).items()}
        stats.workers = [dict(w) for w in data.get("workers", [])]
        stats.grabs = [dict(g) for g in data.get("grabs", [])]
        stats.drop_views = [dict(v) for v in data.get("drop_views", [])]
        stats.sample_tokens = {str(k): str(v) for k, v in data.get("sample_tokens", {}).items()}
        # Kept as they came: the views' bid tuples are shared (bots.auction_checks.AuctionView).
        stats.bids = list(data.get("bids", []))
        stats.auction_views = list(data.get("auction_views", []))
        return stats
