"""Orders that wait for payment under a stampede on two processes, and a process killed with SIGKILL
while it holds reserved orders (contract §7: the stock promise extended, exactly-once release and
expiry, idempotent confirm/cancel, nothing lost).

The rules themselves are tested in Lua's own terms in test_scripts_orders.py; here real buyers,
a real shop and both processes' expiry timers race each other, and the sums must add up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis
import websockets

from live.keys import RoomKeys
from tests.live.webhooks_kit import SECRET as HOOK_SECRET
from tests.live.webhooks_kit import Receiver
from tests.support import Client, ServerProc, make_room

PAY_S = 2  # the room's pay_within_s: short, so that many orders expire within the test
PRODUCT_STOCK, PIN_STOCK = 160, 80  # the pin takes 80 of the product's 160; the bag sells the rest
PIN_LIMIT, BAG_LIMIT = 1, 2
BUYERS = 500
LOAD_S = 4.0
HELD = ("reserved", "confirmed")
FINAL = ("confirmed", "cancelled", "expired")


async def _paying_room(
    server: ServerProc, pay_within_s: int, product_stock: int, pin_stock: int
) -> tuple[str, Any]:
    """A live room with pay_within_s, a bag product "mug" and a pin "p1" made from it."""
    room, host = await make_room(server)
    r = await host.call("PUT", f"/api/rooms/{room}", {"title": "Show", "pay_within_s": pay_within_s})
    assert r.status_code == 200, r.text
    r = await host.call(
        "PUT",
        f"/api/rooms/{room}/products/mug",
        {"title": "Panda mug", "list_price_cents": 3000, "stock": product_stock, "limit_per_user": BAG_LIMIT},
    )
    assert r.status_code == 201, r.text
    r = await host.call(
        "POST",
        f"/api/rooms/{room}/pins",
        {
            "id": "p1",
            "product_id": "mug",
            "stock": pin_stock,
            "limit_per_user": PIN_LIMIT,
            "duration_s": 600,
            "tiers": [{"at": 0, "price_cents": 2500}],
            "price_protection": False,
        },
    )
    assert r.status_code == 201, r.text
    return room, host


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _orders(http: httpx.AsyncClient, room: str, host_token: str) -> list[dict[str, Any]]:
    r = await http.get(f"/api/rooms/{room}/orders", headers=_bearer(host_token))
    assert r.status_code == 200, r.text
    return list(r.json()["orders"])


def _held_units(orders: list[dict[str, Any]]) -> tuple[int, int, Counter[str], Counter[str]]:
    """Units held (reserved + confirmed) by pin orders and by the bag's own orders, and per user."""
    pin = bag = 0
    pin_users: Counter[str] = Counter()
    bag_users: Counter[str] = Counter()
    for o in orders:
        if o["state"] not in HELD:
            continue
        if o["pin"] is not None:
            pin += o["qty"]
            pin_users[o["user"]] += o["qty"]
        else:
            bag += o["qty"]
            bag_users[o["user"]] += o["qty"]
    return pin, bag, pin_users, bag_users


@dataclass
class Ledger:
    """What the test's buyers and shop did, and what each order must end as."""

    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    fate: dict[str, str] = field(default_factory=dict)  # order id -> the final state it must have
    answers: dict[str, bytes] = field(default_factory=dict)  # order id -> the settle answer (200)
    codes: Counter[str] = field(default_factory=Counter)
    samples: int = 0
    atomic_samples: int = 0


async def _settle(
    http: httpx.AsyncClient, room: str, order: dict[str, Any], action: str, token: str, ledger: Ledger
) -> None:
    """Confirm or cancel; a 409 means the order's time ran out first (it must end expired)."""
    r = await http.post(f"/api/rooms/{room}/orders/{order['id']}/{action}", headers=_bearer(token))
    if r.status_code == 200:
        body = r.json()
        want = "confirmed" if action == "confirm" else "cancelled"
        assert body["state"] == want, body
        ledger.fate[order["id"]] = want
        ledger.answers[order["id"]] = r.content
    else:
        assert r.status_code == 409 and r.json()["error"] == "conflict", r.text
        assert order["pay_by_ms"] <= int(time.time() * 1000) + 50, "a 409 before the order was due"
        ledger.fate[order["id"]] = "expired"


async def test_a_stampede_with_cancels_confirms_and_expiry_on_two_processes_adds_up(
    start_server: Callable[..., ServerProc], redis_url: str
) -> None:
    a, b = start_server(), start_server()
    room, host = await _paying_room(a, PAY_S, PRODUCT_STOCK, PIN_STOCK)
    host_token = host.token
    shop_token = a.token("service", name="Shop", sub="shop")
    keys = RoomKeys(a.prefix, room)
    rng = random.Random(12)
    ledger = Ledger()
    servers = [a, b]
    https = [httpx.AsyncClient(base_url=s.url, timeout=20) for s in servers]
    red = aioredis.from_url(redis_url, decode_responses=True)
    gate = asyncio.Semaphore(100)

    async def connect(i: int) -> tuple[int, str, Client]:
        server = servers[i % 2]
        token = server.token(name=f"U{i}", sub=f"u{i}")
        async with gate:
            return i, token, await Client.connect(server, room, token, open_timeout=30)

    buyers = await asyncio.gather(*(connect(i) for i in range(BUYERS)))
    stop_at = time.monotonic() + LOAD_S
    settles: list[asyncio.Task[None]] = []

    async def later(
        delay: float, order: dict[str, Any], action: str, token: str, http: httpx.AsyncClient
    ) -> None:
        await asyncio.sleep(delay)
        await _settle(http, room, order, action, token, ledger)

    async def buyer(i: int, token: str, client: Client) -> None:
        http = https[i % 2]
        k = 0
        while time.monotonic() < stop_at:
            k += 1
            want: dict[str, Any] = (
                {"pin": "p1", "qty": 1} if i % 2 == 0 else {"product": "mug", "qty": 1 + k % 2}
            )
            answer = await client.request({"t": "buy", "id": f"b{i}-{k}", **want}, timeout=30)
            if answer["t"] == "error":
                ledger.codes[answer["code"]] += 1
                assert answer["code"] in ("sold_out", "limit_reached"), answer
                await asyncio.sleep(0.2 + rng.random() * 0.4)
                continue
            order = answer["order"]
            assert order["state"] == "reserved" and order["version"] == 1, order
            ledger.acked[order["id"]] = order
            ledger.fate[order["id"]] = "expired"  # unless the buyer or the shop acts in time
            roll = rng.random()
            # Delays up to past pay_by: some confirms and cancels race the expiry timers.
            delay = rng.random() * (PAY_S + 0.5)
            if roll < 0.25:
                settles.append(asyncio.create_task(later(delay, order, "cancel", token, http)))
            elif roll < 0.6:
                settles.append(asyncio.create_task(later(delay, order, "confirm", shop_token, http)))
            await asyncio.sleep(0.1 + rng.random() * 0.3)

    # The samplers stop at a flag, not by cancel: on Python 3.11 a cancel that lands inside a
    # redis-py command can vanish (live/cancellation.py), and the loop would never end.
    stop = asyncio.Event()

    async def sample_http() -> None:
        # The contract's view: held units of the pin and of the bag never exceed their stock.
        while not stop.is_set():
            orders = await _orders(https[ledger.samples % 2], room, host_token)
            pin, bag, pin_users, bag_users = _held_units(orders)
            assert pin <= PIN_STOCK and bag <= PRODUCT_STOCK - PIN_STOCK, (pin, bag)
            assert max(pin_users.values(), default=0) <= PIN_LIMIT
            assert max(bag_users.values(), default=0) <= BAG_LIMIT
            ledger.samples += 1
            await asyncio.sleep(0.05)

    async def sample_redis() -> None:
        # One atomic read of the orders and both stock counters: held + left is the stock, exactly.
        while not stop.is_set():
            async with red.pipeline(transaction=True) as pipe:
                pipe.hvals(keys.orders)
                pipe.hget(keys.pin, "stock_left")
                pipe.hget(keys.product_stock, "mug")
                raw, pin_left, bag_left = await pipe.execute()
            pin, bag, _, _ = _held_units([orjson.loads(o) for o in raw])
            assert pin + int(pin_left) == PIN_STOCK, (pin, pin_left)
            assert bag + int(bag_left) == PRODUCT_STOCK - PIN_STOCK, (bag, bag_left)
            ledger.atomic_samples += 1
            await asyncio.sleep(0.02)

    samplers = [asyncio.create_task(sample_http()), asyncio.create_task(sample_redis())]

    try:
        await asyncio.gather(*(buyer(i, t, c) for i, t, c in buyers))
        await asyncio.gather(*settles)
        # Let every order still reserved reach its pay_by and be expired by the timers.
        deadline = time.monotonic() + PAY_S + 20
        while True:
            orders = await _orders(https[0], room, host_token)
            if all(o["state"] != "reserved" for o in orders) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        for task in samplers:
            assert not task.done(), task.exception()  # a sampler that stopped has failed
    finally:
        stop.set()
        await asyncio.gather(*samplers, return_exceptions=True)

    try:
        assert ledger.samples >= 5 and ledger.atomic_samples >= 10
        assert len(ledger.acked) > PRODUCT_STOCK, "the released units were bought again"
        assert ledger.codes["sold_out"] > 0
        listed = {o["id"]: o for o in orders}
        # No order lost, each ends as exactly what its buyer, the shop or the clock made it.
        assert set(ledger.acked) <= set(listed), "acked orders missing from the room's list"
        assert set(listed) == set(ledger.acked), "orders nobody was acked"
        for oid, acked in ledger.acked.items():
            final = listed[oid]
            assert {k: final[k] for k in ("user", "pin", "product", "qty", "total_cents", "pay_by_ms")} == {
                k: acked[k] for k in ("user", "pin", "product", "qty", "total_cents", "pay_by_ms")
            }
            assert final["state"] == ledger.fate[oid], (final, ledger.fate[oid])
            assert final["version"] == 2, final  # one change each: expired once, not twice
        by_state = Counter(o["state"] for o in orders)
        assert set(by_state) <= set(FINAL) and all(by_state[s] > 0 for s in FINAL), by_state
        stats = (await https[1].get(f"/api/rooms/{room}/stats", headers=_bearer(host_token))).json()
        assert stats["orders_by_state"] == {"reserved": 0, **{s: by_state[s] for s in FINAL}}
        assert stats["orders"] == len(orders)
        confirmed = [o for o in orders if o["state"] == "confirmed"]
        assert stats["units"] == sum(o["qty"] for o in confirmed)
        assert stats["gmv_cents"] == sum(o["total_cents"] for o in confirmed)

        # The final accounting: every released unit came back exactly once.
        pin_sold = sum(o["qty"] for o in confirmed if o["pin"] == "p1")
        bag_sold = sum(o["qty"] for o in confirmed if o["pin"] is None)
        snap = (await https[1].get(f"/api/rooms/{room}")).json()
        assert snap["pin"]["stock_total"] == PIN_STOCK
        assert snap["pin"]["stock_left"] == PIN_STOCK - pin_sold
        bag = (await https[0].get(f"/api/rooms/{room}/products")).json()["products"]
        assert bag[0]["stock_left"] == PRODUCT_STOCK - PIN_STOCK - bag_sold
        r = await https[0].delete(f"/api/rooms/{room}/pins/p1", headers=_bearer(host_token))
        assert r.status_code == 200, r.text
        bag = (await https[1].get(f"/api/rooms/{room}/products")).json()["products"]
        assert bag[0]["stock_total"] == PRODUCT_STOCK
        assert bag[0]["stock_left"] + bag_sold + pin_sold == PRODUCT_STOCK

        # The sold-out pin came back to live when units came back, with a durable pin event.
        watcher = buyers[0][2]
        pin_events = [e for e in watcher.durable() if e["t"] in ("pin", "sold_out")]
        assert any(
            e["t"] == "pin" and e["pin"]["state"] == "live" and prev["t"] == "sold_out"
            for prev, e in itertools.pairwise(pin_events)
        ), pin_events[:6]

        # Confirm and cancel again: the same answer, or 409 for the other way out.
        for state, action, other in (("confirmed", "confirm", "cancel"), ("cancelled", "cancel", "confirm")):
            for o in [o for o in orders if o["state"] == state][:10]:
                for http in https:
                    r = await http.post(
                        f"/api/rooms/{room}/orders/{o['id']}/{action}", headers=_bearer(shop_token)
                    )
                    assert r.status_code == 200 and r.json() == listed[o["id"]], r.text
                    r = await http.post(
                        f"/api/rooms/{room}/orders/{o['id']}/{other}", headers=_bearer(shop_token)
                    )
                    assert r.status_code == 409, r.text
        for o in [o for o in orders if o["state"] == "expired"][:10]:
            for action in ("confirm", "cancel"):
                r = await https[1].post(
                    f"/api/rooms/{room}/orders/{o['id']}/{action}", headers=_bearer(shop_token)
                )
                assert r.status_code == 409, r.text
        after = {o["id"]: o for o in await _orders(https[0], room, host_token)}
        assert after == listed, "a repeated confirm or cancel changed an order"
    finally:
        for _, _, client in buyers:
            await client.close()
        for http in https:
            await http.aclose()
        await red.aclose()


async def test_a_process_killed_with_reserved_orders_loses_nothing_and_the_other_expires_them(
    start_server: Callable[..., ServerProc],
) -> None:
    # The shop's receiver refuses at first, so the order events are still pending at the kill.
    refusing = [True]
    delivered: set[tuple[str, str]] = set()  # (order id, event type) answered 200

    def decide(n: int, body: bytes) -> int:
        if refusing[0]:
            return 503
        event = orjson.loads(body)
        if event["type"].startswith("order."):
            delivered.add((event["data"]["order"]["id"], event["type"]))
        return 200

    receiver = Receiver(decide=decide)
    env = {"LIVE_WEBHOOK_URL": receiver.url, "LIVE_WEBHOOK_SECRET": HOOK_SECRET}
    doomed, survivor = start_server(env=env), start_server(env=env)
    room, host = await _paying_room(survivor, PAY_S, product_stock=40, pin_stock=20)
    buyers = [await Client.connect(doomed, room, doomed.token(name=f"K{i}", sub=f"k{i}")) for i in range(20)]
    try:
        acked: list[dict[str, Any]] = []
        for i, client in enumerate(buyers):
            for want in ({"pin": "p1", "qty": 1}, {"product": "mug", "qty": 1}):
                answer = await client.request({"t": "buy", "id": f"k{i}-{len(acked)}", **want})
                assert answer["t"] == "ack", answer
                acked.append(answer["order"])
        doomed.kill()
        for client in buyers:
            assert await client.closed(10) == 1006

        # The survivor's timer expires every order once its time is up.
        due_ms = max(o["pay_by_ms"] for o in acked)
        deadline = time.monotonic() + PAY_S + 20
        while True:
            orders = (await host.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
            if all(o["state"] == "expired" for o in orders) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert int(time.time() * 1000) >= due_ms - 5  # none expired early (clocks of one machine)
        listed = {o["id"]: o for o in orders}
        assert set(listed) == {o["id"] for o in acked}
        assert all(o["state"] == "expired" and o["version"] == 2 for o in orders), orders
        stats = (await host.call("GET", f"/api/rooms/{room}/stats")).json()
        assert stats["orders_by_state"] == {"reserved": 0, "confirmed": 0, "cancelled": 0, "expired": 40}
        assert stats["units"] == 0
        snap = (await host.call("GET", f"/api/rooms/{room}")).json()
        assert (snap["pin"]["stock_left"], snap["bag"][0]["stock_left"]) == (20, 20)

        # Every event the killed process's buys recorded reaches the shop, from the survivor.
        refusing[0] = False
        wanted = {(o["id"], kind) for o in acked for kind in ("order.reserved", "order.expired")}
        await asyncio.to_thread(receiver.wait, lambda _requests: wanted <= delivered, 60)
        assert receiver.all_signed()
    finally:
        for client in buyers:
            with contextlib.suppress(websockets.ConnectionClosed):
                await client.close()
        receiver.close()
