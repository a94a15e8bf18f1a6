"""``--pay``: the shop beside the buyers. Orders wait for payment (contract §7); the shop, with a
``service`` token, confirms most of them after a delay, cancels some and lets the rest expire,
while it samples the room's orders: held units (reserved + confirmed) never exceed the stock.
When the run ends it waits until no order is reserved and checks the final accounting: for every
pin and bag product, stock_total = stock_left + units held.

The rules (``held_units``, ``accounting``, ``Policy``) are pure; ``Shop`` is the thread that
talks HTTP from the parent process.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from bots.plan import PayPlan

HELD = ("reserved", "confirmed")
STATES = ("reserved", "confirmed", "cancelled", "expired")
POLL_S = 0.25


def item_of(order: Mapping[str, Any]) -> str:
    """What an order's units come from: its pin, or (bag orders) its product."""
    return str(order.get("pin") or order.get("product"))


def held_units(orders: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Units held by reserved and confirmed orders, per pin or bag product."""
    held: dict[str, int] = {}
    for o in orders:
        if o.get("state") in HELD and isinstance(o.get("qty"), int):
            held[item_of(o)] = held.get(item_of(o), 0) + o["qty"]
    return held


def over_stock(held: Mapping[str, int], stock: Mapping[str, int]) -> dict[str, int]:
    """Items whose held units exceed their stock, with the excess."""
    return {item: n - stock[item] for item, n in held.items() if item in stock and n > stock[item]}


def accounting(
    orders: Iterable[Mapping[str, Any]], stock: Mapping[str, tuple[int, int]]
) -> dict[str, dict[str, Any]]:
    """Per item with ``stock`` (item -> (stock_total, stock_left)): does total = left + held?"""
    held = held_units(orders)
    out = {}
    for item, (total, left) in stock.items():
        n = held.get(item, 0)
        out[item] = {"stock_total": total, "stock_left": left, "held": n, "ok": total == left + n}
    return out


@dataclass
class Policy:
    """What the shop does with each new order: ("confirm" | "cancel" | None, after how long)."""

    pay: PayPlan
    rng: random.Random

    def decide(self) -> tuple[str | None, float]:
        roll = self.rng.random()
        delay = self.rng.random() * self.pay.delay_s
        if roll < self.pay.confirm_ratio:
            return "confirm", delay
        if self.rng.random() < self.pay.cancel_ratio:
            return "cancel", delay
        return None, 0.0


@dataclass
class ShopResult:
    samples: int = 0
    over_stock_samples: int = 0
    worst_over_stock: dict[str, int] = field(default_factory=dict)
    settled: dict[str, int] = field(default_factory=dict)  # confirm/cancel answers by outcome
    idempotency_violations: int = 0  # a repeated confirm/cancel answered differently
    errors: list[str] = field(default_factory=list)
    by_state: dict[str, int] = field(default_factory=dict)
    reserved_at_end: int = 0
    accounting: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)

    def count(self, key: str) -> None:
        self.settled[key] = self.settled.get(key, 0) + 1

    @property
    def accounting_mismatches(self) -> int:
        return sum(not a["ok"] for a in self.accounting.values())

    def summary(self) -> dict[str, Any]:
        return {
            "by_state": self.by_state,
            "reserved_at_end": self.reserved_at_end,
            "settled": self.settled,
            "samples": self.samples,
            "held_over_stock_samples": self.over_stock_samples,
            "worst_over_stock": self.worst_over_stock,
            "accounting": self.accounting,
            "accounting_mismatches": self.accounting_mismatches,
            "settle_idempotency_violations": self.idempotency_violations,
            "errors": self.errors[:20],
        }


class Shop:
    """The shop's thread: poll the room's orders, sample the stock promise, settle orders."""

    def __init__(self, base: str, room: str, token: str, pay: PayPlan, seed: int) -> None:
        self.room = room
        self.pay = pay
        self.policy = Policy(pay, random.Random(seed))
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self.stock: dict[str, int] = {}  # item -> stock_total, for the sampled check
        self.result = ShopResult()
        self._todo: list[tuple[float, str, str]] = []  # (due, order id, action)
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bots-shop", daemon=True)

    def watch(self, item: str, stock_total: int) -> None:
        self.stock[item] = stock_total

    def start(self) -> None:
        self._thread.start()

    def _orders(self) -> list[dict[str, Any]]:
        r = self.http.get(f"/api/rooms/{self.room}/orders")
        r.raise_for_status()
        return [o for o in r.json().get("orders", []) if isinstance(o, dict)]

    def _sample(self) -> list[dict[str, Any]]:
        orders = self._orders()
        over = over_stock(held_units(orders), self.stock)
        self.result.samples += 1
        if over:
            self.result.over_stock_samples += 1
            for item, n in over.items():
                self.result.worst_over_stock[item] = max(n, self.result.worst_over_stock.get(item, 0))
        now = time.monotonic()
        for o in orders:
            oid = str(o.get("id"))
            if oid in self._seen or o.get("state") != "reserved":
                continue
            self._seen.add(oid)
            action, delay = self.policy.decide()
            if action is not None:
                self._todo.append((now + delay, oid, action))
        return orders

    def _settle(self, oid: str, action: str) -> None:
        path = f"/api/rooms/{self.room}/orders/{oid}/{action}"
        r = self.http.post(path)
        if r.status_code == 409:
            self.result.count("conflict")  # its time was up first: it expired
            return
        if r.status_code != 200:
            self.result.count(f"http_{r.status_code}")
            return
        self.result.count("confirmed" if action == "confirm" else "cancelled")
        again = self.http.post(path)  # idempotent: the same answer
        if again.status_code != 200 or again.json() != r.json():
            self.result.idempotency_violations += 1

    def _step(self) -> None:
        self._sample()
        now = time.monotonic()
        due = [t for t in self._todo if t[0] <= now]
        self._todo = [t for t in self._todo if t[0] > now]
        for _at, oid, action in due:
            self._settle(oid, action)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except (httpx.HTTPError, ValueError) as err:
                self.result.errors.append(f"{type(err).__name__}: {err}"[:200])
            self._stop.wait(POLL_S)

    def finish(self) -> ShopResult:
        """Stop settling; wait (up to pay_within_s + 15 s) until no order is reserved; account."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        deadline = time.monotonic() + self.pay.pay_within_s + 15
        orders: list[dict[str, Any]] = []
        while True:
            try:
                orders = self._orders()
            except (httpx.HTTPError, ValueError) as err:
                self.result.errors.append(f"{type(err).__name__}: {err}"[:200])
            reserved = sum(o.get("state") == "reserved" for o in orders)
            if not reserved or time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
        result = self.result
        result.orders = orders
        result.by_state = {s: sum(o.get("state") == s for o in orders) for s in STATES}
        result.reserved_at_end = result.by_state["reserved"]
        try:
            result.accounting = accounting(orders, stock_of(self.snapshot(), self.stock))
        except (httpx.HTTPError, ValueError) as err:
            result.errors.append(f"snapshot: {type(err).__name__}: {err}"[:200])
        return result

    def snapshot(self) -> dict[str, Any]:
        r = self.http.get(f"/api/rooms/{self.room}")
        r.raise_for_status()
        answer = r.json()
        return answer if isinstance(answer, dict) else {}

    def close(self) -> None:
        self._stop.set()
        self.http.close()


def stock_of(snapshot: Mapping[str, Any], watched: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """(stock_total, stock_left) of the watched pin and bag products, from the room's snapshot."""
    out: dict[str, tuple[int, int]] = {}
    things = [snapshot.get("pin"), *(snapshot.get("bag") or [])]
    for thing in things:
        if not isinstance(thing, dict) or thing.get("id") not in watched:
            continue
        total, left = thing.get("stock_total"), thing.get("stock_left")
        if isinstance(total, int) and isinstance(left, int):
            out[str(thing["id"])] = (total, left)
    return out
