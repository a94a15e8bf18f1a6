"""No oversell under a stampede across processes, and no acked order lost when a process is killed."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import websockets

from tests.support import Client, Http, make_room

PIN = {
    "id": "p1",
    "product": {"id": "phone-9", "title": "Phone 9", "list_price_cents": 99_900},
    "tiers": [{"at": 0, "price_cents": 79_900}],
    "duration_s": 300,
}


async def _connect_all(
    servers: list[Any], room: str, n: int, conns_per_user: int = 1
) -> list[tuple[str, Client]]:
    async def one(i: int, k: int) -> tuple[str, Client]:
        server = servers[(i + k) % len(servers)]
        return f"u{i}", await Client.connect(
            server, room, server.token(name=f"U{i}", sub=f"u{i}"), open_timeout=30
        )

    sem = asyncio.Semaphore(100)

    async def limited(i: int, k: int) -> tuple[str, Client]:
        async with sem:
            return await one(i, k)

    return list(await asyncio.gather(*(limited(i, k) for i in range(n) for k in range(conns_per_user))))


async def test_stampede_of_500_on_two_processes_sells_exactly_the_stock(start_server) -> None:  # type: ignore[no-untyped-def]
    a, b = start_server(), start_server()
    room, host = await make_room(a)
    r = await host.call("POST", f"/api/rooms/{room}/pins", {**PIN, "stock": 100, "limit_per_user": 1})
    assert r.status_code == 201
    buyers = await _connect_all([a, b], room, 500)
    answers = await asyncio.gather(
        *(c.request({"t": "buy", "id": f"b-{user}", "pin": "p1", "qty": 1}, timeout=60) for user, c in buyers)
    )
    acks = [x for x in answers if x["t"] == "ack"]
    assert len(acks) == 100
    assert {x["code"] for x in answers if x["t"] == "error"} == {"sold_out"}
    assert len({x["order"]["user"] for x in acks}) == 100
    orders = (await host.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
    assert sorted(o["id"] for o in orders) == sorted(x["order"]["id"] for x in acks)
    snap = (await Http(b).call("GET", f"/api/rooms/{room}")).json()
    assert snap["pin"]["stock_left"] == 0 and snap["pin"]["state"] == "sold_out"
    watcher = buyers[0][1]
    await watcher.wait_for(lambda e: e["t"] == "stock" and e["left"] == 0, consume=False)
    assert sum(e["t"] == "sold_out" for e in watcher.events) == 1  # exactly one, whoever took the last unit
    for _, c in buyers:
        await c.close()


async def test_many_connections_per_user_cannot_beat_the_limit(start_server) -> None:  # type: ignore[no-untyped-def]
    a, b = start_server(), start_server()
    room, host = await make_room(a)
    await host.call("POST", f"/api/rooms/{room}/pins", {**PIN, "stock": 1000, "limit_per_user": 2})
    buyers = await _connect_all([a, b], room, 50, conns_per_user=4)
    answers = await asyncio.gather(
        *(
            c.request({"t": "buy", "id": f"b-{n}", "pin": "p1", "qty": 1}, timeout=60)
            for n, (_, c) in enumerate(buyers)
        )
    )
    per_user: dict[str, int] = {}
    for ans in answers:
        if ans["t"] == "ack":
            per_user[ans["order"]["user"]] = per_user.get(ans["order"]["user"], 0) + 1
    assert set(per_user.values()) == {2} and len(per_user) == 50
    assert {x["code"] for x in answers if x["t"] == "error"} == {"limit_reached"}
    for _, c in buyers:
        await c.close()


async def test_acked_orders_survive_a_server_killed_mid_stampede(start_server) -> None:  # type: ignore[no-untyped-def]
    a, b = start_server(), start_server()
    room, host = await make_room(b)
    await host.call("POST", f"/api/rooms/{room}/pins", {**PIN, "stock": 400, "limit_per_user": 3})
    buyers = await _connect_all([a, b], room, 300)
    acked: list[dict[str, Any]] = []
    rng = random.Random(7)

    async def shop(user: str, client: Client) -> None:
        for k in range(3):
            await asyncio.sleep(rng.random() * 0.05)
            try:
                ans = await client.request(
                    {"t": "buy", "id": f"{user}-{k}", "pin": "p1", "qty": 1}, timeout=20
                )
            except (AssertionError, websockets.ConnectionClosed):
                return  # the process serving this client died: no answer, no ack
            if ans["t"] == "ack":
                acked.append(ans["order"])

    stampede = asyncio.gather(*(shop(u, c) for u, c in buyers))
    while len(acked) < 60:
        await asyncio.sleep(0.005)
    a.kill()
    await stampede
    assert 60 <= len(acked) <= 400
    orders = (await host.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
    listed = {o["id"]: o for o in orders}
    missing = [o["id"] for o in acked if o["id"] not in listed]
    assert missing == []
    assert all(listed[o["id"]] == {**o, "refund_cents": 0} for o in acked)
    assert len(orders) <= 400
    snap = (await Http(b).call("GET", f"/api/rooms/{room}")).json()
    assert snap["pin"]["stock_left"] == 400 - sum(o["qty"] for o in orders)
    killed_viewers = [c for _, c in buyers if c.closed_code is not None]
    assert killed_viewers  # the viewers of the killed process saw their connection drop
    for _, c in buyers:
        if c.closed_code is None:
            await c.close()
