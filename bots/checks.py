"""Correctness accounting, pure: durable-seq gaps per viewer, and the sale ledger.

Nothing here reads a clock or touches a socket; the viewer feeds ``SeqCheck`` the
``hello`` and every durable event it receives, and the parent feeds ``SaleLedger``
every acked order the workers collected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The contract promises at least this many durable events kept for resuming.
RETENTION_PROMISED = 1000


class SeqCheck:
    """Checks one viewer's durable events rise by exactly 1, across reconnections.

    ``last`` is the latest durable seq this viewer has (0 before the first hello);
    reconnections resume with ``since=last``.
    """

    __slots__ = (
        "duplicates",
        "gaps",
        "last",
        "missing",
        "regressions",
        "resume_refused",
        "resume_too_old",
        "resumed",
        "started",
    )

    def __init__(self) -> None:
        self.last = 0
        self.started = False  # a hello has been seen
        self.gaps = 0  # times a seq jumped past last + 1
        self.missing = 0  # durable events never received (the sum of the jumps)
        self.duplicates = 0  # events at or below last (repeats or out of order)
        self.resumed = 0  # reconnections the server resumed (resumed: true)
        self.resume_refused = 0  # resumed: false although since was within the promised retention
        self.resume_too_old = 0  # resumed: false with since older than the retention: allowed
        self.regressions = 0  # a hello whose seq is below what this viewer already had

    def since(self) -> int | None:
        """The ``since`` to reconnect with, or None for a first connection."""
        return self.last if self.started else None

    def hello(self, seq: int, resumed: bool) -> None:
        """Account for a ``hello``: ``seq`` is the room's latest durable seq."""
        if not self.started:
            self.started = True
            self.last = seq
            return
        if seq < self.last:
            self.regressions += 1
        if resumed:
            self.resumed += 1
            return  # the events after ``last`` follow
        behind = seq - self.last
        if behind <= 0:
            return  # nothing happened while away: a snapshot loses nothing
        if behind <= RETENTION_PROMISED:
            self.resume_refused += 1
            self.missing += behind
            self.gaps += 1
        else:
            self.resume_too_old += 1
        self.last = seq

    def event(self, seq: int) -> None:
        """Account for one durable event."""
        last = self.last
        if seq == last + 1:
            self.last = seq
        elif seq <= last:
            self.duplicates += 1
        else:
            self.gaps += 1
            self.missing += seq - last - 1
            self.last = seq


@dataclass(slots=True)
class PinLedger:
    pin: str
    stock_total: int | None = None
    limit_per_user: int | None = None
    prices: set[int] = field(default_factory=set)
    units: int = 0
    orders: int = 0
    by_user: dict[str, int] = field(default_factory=dict)
    sold_reported: int | None = None  # the server's own count (pin_end.sold / stock), when seen

    def oversell(self) -> int:
        if self.stock_total is None:
            return 0
        return max(0, self.units - self.stock_total)

    def over_limit(self) -> dict[str, int]:
        """Users whose acked units exceed the limit, with their units."""
        if not self.limit_per_user:
            return {}
        return {u: n for u, n in self.by_user.items() if n > self.limit_per_user}


class SaleLedger:
    """Adds up acked orders and checks them against stock, limits, prices and idempotency."""

    def __init__(self) -> None:
        self.pins: dict[str, PinLedger] = {}
        self._by_order: dict[str, tuple[str, str, int]] = {}  # order id -> (user, pin, qty)
        self._by_request: dict[tuple[str, str], str] = {}  # (user, request id) -> order id
        self.replays = 0  # the same order acked again (idempotent re-sends): counted once
        self.idempotency_violations = 0  # one request id answered with two different orders
        self.bad_orders: list[dict[str, Any]] = []  # orders whose numbers do not add up
        self.foreign_order_ids = 0  # one order id given to two different users or pins
        self.released = 0  # orders cancelled or expired on the server (``release``)

    def pin(self, pin_id: str) -> PinLedger:
        ledger = self.pins.get(pin_id)
        if ledger is None:
            ledger = self.pins[pin_id] = PinLedger(pin_id)
        return ledger

    def add_pin(self, pin_id: str, info: Mapping[str, Any]) -> None:
        """What the viewers saw of a pin: stock_total, limit_per_user, prices, sold."""
        ledger = self.pin(pin_id)
        if isinstance(info.get("stock_total"), int):
            ledger.stock_total = info["stock_total"]
        if isinstance(info.get("limit_per_user"), int):
            ledger.limit_per_user = info["limit_per_user"]
        ledger.prices.update(int(p) for p in info.get("prices", []))
        if isinstance(info.get("sold"), int):
            ledger.sold_reported = info["sold"]

    def add_order(self, user: str, request_id: str, order: Mapping[str, Any]) -> None:
        order_id = str(order.get("id"))
        pin_id = str(order.get("pin") or order.get("product"))  # a bag order's units are the product's
        qty = order.get("qty")
        qty = qty if isinstance(qty, int) else 0
        previous = self._by_request.get((user, request_id))
        if previous is not None and previous != order_id:
            self.idempotency_violations += 1
        self._by_request[(user, request_id)] = order_id
        seen = self._by_order.get(order_id)
        if seen is not None:
            if seen != (user, pin_id, qty):
                self.foreign_order_ids += 1
            else:
                self.replays += 1
            return
        self._by_order[order_id] = (user, pin_id, qty)
        ledger = self.pin(pin_id)
        ledger.units += qty
        ledger.orders += 1
        ledger.by_user[user] = ledger.by_user.get(user, 0) + qty
        unit = order.get("unit_price_cents")
        total = order.get("total_cents")
        if isinstance(unit, int) and isinstance(total, int) and total != unit * qty:
            self.bad_orders.append({"order": order_id, "why": "total_cents != qty * unit_price_cents"})
        elif ledger.prices and isinstance(unit, int) and unit not in ledger.prices:
            self.bad_orders.append({"order": order_id, "why": f"unit price {unit} is no tier's price"})

    def release(self, order_id: str) -> None:
        """An order the server cancelled or expired (``--pay``): its units no longer count."""
        seen = self._by_order.pop(order_id, None)
        if seen is None:
            return
        user, pin_id, qty = seen
        ledger = self.pin(pin_id)
        ledger.units -= qty
        ledger.orders -= 1
        ledger.by_user[user] = ledger.by_user.get(user, 0) - qty
        if ledger.by_user[user] <= 0:
            del ledger.by_user[user]
        self.released += 1

    def add_orders(self, orders: Iterable[tuple[str, str, Mapping[str, Any]]]) -> None:
        for user, request_id, order in orders:
            self.add_order(user, request_id, order)

    def oversell_units(self) -> int:
        return sum(p.oversell() for p in self.pins.values())

    def limit_violations(self) -> int:
        return sum(len(p.over_limit()) for p in self.pins.values())

    def summary(self) -> dict[str, Any]:
        return {
            "pins": {
                p.pin: {
                    "stock_total": p.stock_total,
                    "limit_per_user": p.limit_per_user,
                    "orders": p.orders,
                    "units_acked": p.units,
                    "buyers": len(p.by_user),
                    "oversold_units": p.oversell(),
                    "users_over_limit": p.over_limit(),
                    "sold_reported": p.sold_reported,
                }
                for p in sorted(self.pins.values(), key=lambda p: p.pin)
            },
            "oversold_units": self.oversell_units(),
            "users_over_limit": self.limit_violations(),
            "idempotent_replays": self.replays,
            "orders_released": self.released,
            "idempotency_violations": self.idempotency_violations,
            "order_id_clashes": self.foreign_order_ids,
            "bad_orders": self.bad_orders[:20],
            "bad_order_count": len(self.bad_orders),
        }
