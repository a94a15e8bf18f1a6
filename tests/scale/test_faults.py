"""Faults with real processes: a server killed with SIGKILL, Redis killed and restarted, a slow Redis."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from tests.scale.procs import LiveProc, Resumer, await_until
from tests.support import Client, Http, RedisProc, make_room


def big_pin(pin_id: str = "p1") -> dict[str, Any]:
    return {
        "id": pin_id,
        "product": {"id": "tee", "title": "Tee", "list_price_cents": 2000},
        "stock": 100_000,
        "limit_per_user": 100,
        "duration_s": 600,
        "tiers": [{"at": 0, "price_cents": 1500}],
    }


@dataclass
class Buyer:
    """Buys one unit after another with fresh request ids, recording every answer."""

    client: Client
    name: str
    acked: dict[str, str] = field(default_factory=dict)  # request id -> order id
    errors: dict[str, str] = field(default_factory=dict)  # request id -> error code
    timeouts: list[str] = field(default_factory=list)
    answer_s: list[float] = field(default_factory=list)
    n: int = 0

    async def run(self, stop: asyncio.Event, pin: str = "p1", pause_s: float = 0.08) -> None:
        while not stop.is_set():
            rid = f"{self.name}-{self.n}"
            self.n += 1
            started = time.monotonic()
            try:
                answer = await self.client.request({"t": "buy", "id": rid, "pin": pin, "qty": 1}, timeout=8)
            except websockets.ConnectionClosed:
                return  # its server process is gone
            except AssertionError:
                if self.client.closed_code is None:
                    self.timeouts.append(rid)
                return
            self.answer_s.append(time.monotonic() - started)
            if answer["t"] == "ack":
                self.acked[rid] = answer["order"]["id"]
            else:
                self.errors[rid] = answer["code"]
            await asyncio.sleep(pause_s)


async def _status(url: str) -> int:
    async with httpx.AsyncClient(timeout=3) as client:
        return (await client.get(url)).status_code


async def test_killed_server_viewers_resume_elsewhere(start_live: Callable[..., LiveProc]) -> None:
    a, b = start_live(), start_live()
    room, host = await make_room(a)
    assert (await host.call("POST", f"/api/rooms/{room}/pins", big_pin())).status_code == 201
    viewers = [await Resumer([a, b], room, a.token(name=f"V{i}", sub=f"v{i}")).start() for i in range(6)]
    poster = await Client.connect(b, room, b.token(name="Poster", sub="poster"))
    buyer = Buyer(await Client.connect(a, room, a.token(name="Buyer", sub="buyer")), "buyer")
    stop = asyncio.Event()
    buying = asyncio.create_task(buyer.run(stop))
    last = 0
    for i in range(60):
        if i == 20:
            a.kill()
        ack = await poster.request({"t": "chat", "id": f"c{i}", "text": f"line {i}"})
        assert ack["t"] == "ack"
        last = ack["seq"]
        await asyncio.sleep(0.02)
    stop.set()
    await buying
    await buyer.client.close()
    await asyncio.wait_for(_all(lambda: all(v.last_seq >= last for v in viewers)), 15)
    for v in viewers:
        await v.close()
        seqs = v.seqs()
        assert seqs == list(range(seqs[0], last + 1)), "a gap or a duplicate"
        assert len(v.reconnects) == 1 and all(h["resumed"] for h in v.hellos[1:])
    print(
        "reconnect + resume after SIGKILL, s:",
        sorted(round(t, 3) for t in (x for v in viewers for x in v.reconnects)),
    )
    # Every order acked by the killed process is in the room's orders.
    assert buyer.acked
    orders = (await Http(b, host.token).call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
    assert set(buyer.acked.values()) <= {o["id"] for o in orders}
    await poster.close()


async def _all(pred: Callable[[], bool]) -> None:
    while not pred():
        await asyncio.sleep(0.05)


async def test_redis_killed_and_restarted_loses_no_acked_order(
    own_redis: Callable[..., RedisProc], start_live: Callable[..., LiveProc]
) -> None:
    redis = own_redis("always")  # every acknowledged write is on disk before the reply
    server = start_live(redis_url=redis.url)
    room, host = await make_room(server)
    assert (await host.call("POST", f"/api/rooms/{room}/pins", big_pin())).status_code == 201
    viewer = await Resumer([server], room, None).start()
    chatter = await Client.connect(server, room, server.token(name="Chatter", sub="chatter"))
    assert (await chatter.request({"t": "chat", "id": "before", "text": "before"}))["t"] == "ack"
    buyers = [
        Buyer(await Client.connect(server, room, server.token(name=f"B{i}", sub=f"b{i}")), f"b{i}")
        for i in range(3)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(b.run(stop)) for b in buyers]
    await await_until(_async(lambda: all(len(b.acked) >= 5 for b in buyers)), 10, "buys before the outage")

    redis.kill()
    killed = time.monotonic()
    await await_until(_is(server.url + "/healthz", 503), 5, "/healthz 503")
    # Requests during the outage get a clear error, quickly, and the socket stays open.
    started = time.monotonic()
    answer = await chatter.request({"t": "chat", "id": "during", "text": "during"}, timeout=5)
    assert answer["t"] == "error" and answer["code"] == "unavailable", answer
    assert time.monotonic() - started < 3
    r = await Http(server).call("GET", f"/api/rooms/{room}")
    assert r.status_code == 503 and r.json()["error"] == "unavailable"
    await asyncio.sleep(1.0)
    assert all(b.errors for b in buyers), "buyers should have seen errors during the outage"

    outage_acks = {b.name: len(b.acked) for b in buyers}
    redis.start()  # same port, same dir: the AOF is replayed
    await await_until(_is(server.url + "/healthz", 200), 10, "/healthz 200 again")
    back_s = time.monotonic() - killed
    await await_until(
        _async(lambda: all(len(b.acked) > outage_acks[b.name] + 3 for b in buyers)),
        10,
        "buys after the restart",
    )
    stop.set()
    await asyncio.gather(*tasks)
    assert not any(b.timeouts for b in buyers), "a request hung instead of getting an answer"
    assert {code for b in buyers for code in b.errors.values()} == {"unavailable"}

    # Retrying a failed request id is safe: an order that was taken is answered again, never doubled.
    retried: dict[str, str] = {}
    for b in buyers:
        for rid in b.errors:
            answer = await b.client.request({"t": "buy", "id": rid, "pin": "p1", "qty": 1})
            assert answer["t"] == "ack", answer
            retried[rid] = answer["order"]["id"]
    acked = {rid: oid for b in buyers for rid, oid in b.acked.items()}
    orders = (await host.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
    order_ids = [o["id"] for o in orders]
    assert set(acked.values()) <= set(order_ids), "an acked order was lost"
    assert sorted(order_ids) == sorted({**acked, **retried}.values()), (
        "an order without a request, or a double"
    )

    # The room's stream survived and the hub follows it again: the viewer has no gap.
    ack = await chatter.request({"t": "chat", "id": "after", "text": "after"})
    assert ack["t"] == "ack"
    await await_until(_async(lambda: viewer.last_seq >= ack["seq"]), 10, "the viewer to get the post")
    await viewer.close()
    seqs = viewer.seqs()
    assert seqs == list(range(seqs[0], ack["seq"] + 1))
    print(
        f"redis outage: healthz back {back_s:.2f} s after the kill; {len(acked)} acked, "
        f"{len(retried)} retried after 'unavailable'"
    )
    for b in buyers:
        await b.client.close()
    await chatter.close()


def _async(pred: Callable[[], bool]) -> Callable[[], Any]:
    async def check() -> bool:
        return pred()

    return check


def _is(url: str, expected: int) -> Callable[[], Any]:
    async def check() -> bool:
        return await _status(url) == expected

    return check


async def _timed(coro: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = await coro
    return result, time.monotonic() - started


async def test_slow_redis_keeps_the_server_responsive(
    own_redis: Callable[..., RedisProc], start_live: Callable[..., LiveProc]
) -> None:
    redis = own_redis("everysec", ["--enable-debug-command", "local"])
    server = start_live(redis_url=redis.url)
    room, _ = await make_room(server)
    viewer = await Resumer([server], room, None).start()
    poster = await Client.connect(server, room, server.token(name="Poster", sub="poster"))
    pinger = await Client.connect(server, room, server.token(name="Pinger", sub="pinger"))
    first = await poster.request({"t": "chat", "id": "c0", "text": "before"})

    # A stall of 2 s; what needs no Redis must answer well within it (the bound leaves room for a
    # busy shared machine), and what needs Redis must wait for it, then answer correctly.
    for stall in ("DEBUG SLEEP 2", "CLIENT PAUSE 2000 WRITE"):

        def stall_redis(cmd: str = stall) -> None:
            with contextlib.closing(redis.client()) as c:
                c.execute_command(*cmd.split())

        threading.Thread(target=stall_redis, daemon=True).start()
        await asyncio.sleep(0.2)
        n = len([e for e in poster.events if e.get("t") == "ack"])
        chat = asyncio.create_task(
            _timed(poster.request({"t": "chat", "id": f"c-{n}", "text": stall}, timeout=10))
        )
        await asyncio.sleep(0.1)
        assert not chat.done(), f"{stall}: the post should be waiting for Redis"
        # Meanwhile: pings on another socket and /metrics do not wait for Redis.
        quick: list[float] = []
        for _ in range(3):
            await pinger.send({"t": "ping"})
            _, took = await _timed(pinger.next_of("pong"))
            assert took < 0.5, f"{stall}: pong took {took:.2f} s"
            quick.append(took)
            async with httpx.AsyncClient(timeout=3) as http:
                _, took = await _timed(http.get(server.url + "/metrics"))
            assert took < 0.5, f"{stall}: /metrics took {took:.2f} s"
            quick.append(took)
        ack, took = await chat
        assert ack["t"] == "ack", ack
        assert 1.0 < took < 5
        print(f"{stall}: pong and /metrics at most {max(quick) * 1000:.0f} ms; acked after {took:.2f} s")
        await asyncio.sleep(0.1)
    await await_until(_is(server.url + "/healthz", 200), 5, "/healthz 200")
    last = await poster.request({"t": "chat", "id": "c-last", "text": "after"})
    assert last["seq"] == first["seq"] + 3
    await await_until(_async(lambda: viewer.last_seq >= last["seq"]), 10, "the viewer to catch up")
    await viewer.close()
    seqs = viewer.seqs()
    assert seqs == list(range(first["seq"], last["seq"] + 1))
    assert [e["text"] for e in viewer.durable] == [
        "before",
        "DEBUG SLEEP 2",
        "CLIENT PAUSE 2000 WRITE",
        "after",
    ]
    await poster.close()
    await pinger.close()
