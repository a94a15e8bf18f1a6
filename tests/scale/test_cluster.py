"""The whole service on a real three-master Redis Cluster (`--redis-url redis+cluster://...`).

Every key of a room carries the hash tag ``{room:<id>}``, so each room's scripts run on
one shard; the rooms here are chosen to land on different masters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.scale.procs import ClusterProcs, LiveProc, Resumer
from tests.support import Client, Http, make_room


def pin_body(
    pin_id: str,
    *,
    stock: int = 10,
    limit: int = 1,
    starts_in_s: int = 0,
    duration_s: int = 60,
    tiers: list[dict[str, int]] | None = None,
    count: str = "posts",
) -> dict[str, Any]:
    return {
        "id": pin_id,
        "product": {"id": "mug-1", "title": "Panda mug", "list_price_cents": 3000},
        "stock": stock,
        "limit_per_user": limit,
        "starts_in_s": starts_in_s,
        "duration_s": duration_s,
        "tiers": tiers or [{"at": 0, "price_cents": 2500}, {"at": 3, "price_cents": 2000}],
        "count": count,
        "price_protection": True,
    }


@pytest.fixture
def two(cluster: ClusterProcs, start_live: Callable[..., LiveProc]) -> tuple[LiveProc, LiveProc]:
    """Two processes on the cluster: a plain one and a supervisor with two workers."""
    return start_live(redis_url=cluster.url), start_live(redis_url=cluster.url, workers=2)


async def test_rooms_on_every_shard_chat_and_listing(
    cluster: ClusterProcs, two: tuple[LiveProc, LiveProc]
) -> None:
    a, b = two
    rooms = cluster.rooms_on_every_node("shard")
    assert len({cluster.room_port(r) for r in rooms}) == 3
    for room in rooms:
        await make_room(a, room)
    # Each room's keys are on the master that owns its slot, and nowhere else.
    for room, node in zip(rooms, cluster.clients(), strict=True):
        keys = node.keys(f"{a.prefix}{{room:{room}}}:*")
        assert f"{a.prefix}{{room:{room}}}:meta" in keys
        assert f"{a.prefix}{{room:{room}}}:events" in keys
    viewers = [await Client.connect(b, room) for room in rooms]
    posters = [await Client.connect(a, room, a.token(name="Ann", sub="ann")) for room in rooms]
    for i, (room, poster) in enumerate(zip(rooms, posters, strict=True)):
        ack = await poster.request({"t": "chat", "id": "c1", "text": f"hi {room}"})
        assert ack["t"] == "ack", ack
        await viewers[i].next_of("chat", text=f"hi {room}")
    listed = (await _get(b.url + "/api/rooms")).json()["rooms"]
    assert set(rooms) <= {r["id"] for r in listed}
    for c in viewers + posters:
        await c.close()


async def test_pins_prices_and_buying_across_processes(
    cluster: ClusterProcs, two: tuple[LiveProc, LiveProc]
) -> None:
    a, b = two
    rooms = cluster.rooms_on_every_node("sale")
    for room in rooms:
        _, host = await make_room(a, room)
        r = await host.call("POST", f"/api/rooms/{room}/pins", pin_body("p1", stock=10))
        assert r.status_code == 201, r.text
    for room in rooms:
        watcher = await Client.connect(b, room)
        # Three posts cross the tier at 3: one `price` event, whichever process took each post.
        for n, server in enumerate([a, b, a]):
            c = await Client.connect(server, room, server.token(name=f"P{n}", sub=f"p{n}"))
            assert (await c.request({"t": "chat", "id": "c", "text": f"going {n}"}))["t"] == "ack"
            await c.close()
        price = await watcher.next_of("price", timeout=10)
        assert (price["tier"], price["price_cents"]) == (1, 2000)

        async def buy(n: int, room: str = room) -> dict[str, Any]:
            server = (a, b)[n % 2]
            c = await Client.connect(server, room, server.token(name=f"B{n}", sub=f"b{n}"))
            try:
                return await c.request({"t": "buy", "id": f"buy-{n}", "pin": "p1", "qty": 1}, timeout=10)
            finally:
                await c.close()

        answers = await asyncio.gather(*(buy(n) for n in range(14)))
        acked = [x["order"] for x in answers if x["t"] == "ack"]
        assert len(acked) == 10  # no oversell, on any shard
        assert sorted(x["code"] for x in answers if x["t"] == "error") == ["sold_out"] * 4
        assert {o["unit_price_cents"] for o in acked} == {2000}
        await watcher.next_of("sold_out", timeout=10)
        # Idempotent: the same user and request id gets the same order back, on the other process.
        # (Which buyers were acked depends on timing: any four of the fourteen may have been too late.)
        n = next(n for n, x in enumerate(answers) if x["t"] == "ack")
        other = (b, a)[n % 2]
        c = await Client.connect(other, room, other.token(name=f"B{n}", sub=f"b{n}"))
        again = await c.request({"t": "buy", "id": f"buy-{n}", "pin": "p1", "qty": 1})
        assert again["t"] == "ack" and again["order"] == answers[n]["order"]
        await c.close()
        host = Http(a, a.token("host", room, name="Host", sub="host"))
        orders = (await host.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
        assert sorted(o["id"] for o in orders) == sorted(o["id"] for o in acked)
        await watcher.close()


async def test_pin_timers_act_on_every_shard(cluster: ClusterProcs, two: tuple[LiveProc, LiveProc]) -> None:
    a, b = two
    rooms = cluster.rooms_on_every_node("timer")
    watchers = []
    for room in rooms:
        _, host = await make_room(a, room)
        watchers.append(await Client.connect(b, room))
        r = await host.call("POST", f"/api/rooms/{room}/pins", pin_body("t1", starts_in_s=1, duration_s=2))
        assert r.status_code == 201, r.text
    for w in watchers:
        assert (await w.next_of("pin", timeout=5))["pin"]["state"] == "upcoming"
        assert (await w.next_of("pin", timeout=5))["pin"]["state"] == "live"
        end = await w.next_of("pin_end", timeout=6)
        assert end["pin"] == "t1"
        await w.close()


async def test_resume_on_another_process(cluster: ClusterProcs, two: tuple[LiveProc, LiveProc]) -> None:
    a, b = two
    for room in cluster.rooms_on_every_node("resume"):
        await make_room(a, room)
        poster = await Client.connect(a, room, a.token(name="Ann", sub="ann"))
        viewer = await Client.connect(a, room)
        for i in range(5):
            await poster.request({"t": "chat", "id": f"a{i}", "text": f"a {i}"})
        await viewer.next_of("chat", text="a 4")
        since = viewer.durable()[-1]["seq"]
        await viewer.close()
        for i in range(5):
            await poster.request({"t": "chat", "id": f"b{i}", "text": f"b {i}"})
        back = await Client.connect(b, room, since=since)
        assert back.events[0]["resumed"] is True
        await back.next_of("chat", text="b 4")
        seqs = [e["seq"] for e in back.durable()]
        assert seqs == list(range(since + 1, since + 6))
        await back.close()
        await poster.close()


async def test_scripts_reload_after_script_flush(
    cluster: ClusterProcs, two: tuple[LiveProc, LiveProc]
) -> None:
    """A restarted or failed-over master forgets its script cache: NOSCRIPT must be handled on every shard,
    both by the pipeline batcher (chat, buy) and by plain script calls (snapshot, pins)."""
    a, b = two
    rooms = cluster.rooms_on_every_node("noscript")
    for room in rooms:
        _, host = await make_room(a, room)
        assert (await host.call("POST", f"/api/rooms/{room}/pins", pin_body("n1"))).status_code == 201
    noscript_before = _noscript_errors(cluster)
    for node in cluster.clients():
        node.script_flush()
    for room in rooms:
        for server in (a, b):
            r = await _get(f"{server.url}/api/rooms/{room}")  # snapshot script
            assert r.status_code == 200, r.text
        c = await Client.connect(b, room, b.token(name="Zed", sub="zed"))
        assert (await c.request({"t": "chat", "id": "c", "text": "after flush"}))["t"] == "ack"
        for node in cluster.clients():
            node.script_flush()
        bought = await c.request({"t": "buy", "id": "b", "pin": "n1", "qty": 1})
        assert bought["t"] == "ack", bought
        await c.close()
    # The masters did answer NOSCRIPT (so the reload path ran) on every shard.
    after = _noscript_errors(cluster)
    assert all(after[i] > noscript_before[i] for i in range(3)), (noscript_before, after)


def _noscript_errors(cluster: ClusterProcs) -> list[int]:
    return [
        int(node.info("errorstats").get("errorstat_NOSCRIPT", {}).get("count", 0))
        for node in cluster.clients()
    ]


async def test_viewer_follows_through_a_killed_process(
    cluster: ClusterProcs, start_live: Callable[..., LiveProc]
) -> None:
    a, b = start_live(redis_url=cluster.url), start_live(redis_url=cluster.url)
    room = cluster.rooms_on_every_node("follow")[1]
    await make_room(a, room)
    viewer = await Resumer([a, b], room, None).start()
    poster = await Client.connect(b, room, b.token(name="Ann", sub="ann"))
    seqs = []
    for i in range(30):
        if i == 10:
            a.kill()
        ack = await poster.request({"t": "chat", "id": f"c{i}", "text": f"line {i}"})
        seqs.append(ack["seq"])
        await asyncio.sleep(0.02)
    await asyncio.wait_for(_until(lambda: viewer.last_seq >= seqs[-1]), 10)
    await viewer.close()
    got = viewer.seqs()
    assert got == list(range(got[0], seqs[-1] + 1))
    assert len(viewer.reconnects) == 1
    await poster.close()


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(url)


async def _until(pred: Callable[[], bool]) -> None:
    while not pred():
        await asyncio.sleep(0.05)
