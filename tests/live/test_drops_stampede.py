"""Drops under a stampede on two processes, a window that closes with grabs in flight, and a process
killed with SIGKILL mid-drop (contract §10: exactly ``count`` grabs, one per user, envelope sums
exact, drop_end once, every acked grab in the wallet).

The rules are tested in Lua's own terms in test_scripts_drops.py; here real grabbers on real
processes race each other and the clock, and the sums must add up.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis
import websockets

from live.keys import RoomKeys, user_wallet
from tests.support import Client, ServerProc, connect_crowd, make_room


async def _envelopes(host: Any, room: str, count: int, total_cents: int) -> str:
    """Drop ``count`` envelopes worth ``total_cents`` for two minutes; the drop's id."""
    body = {"kind": "envelope", "count": count, "total_cents": total_cents, "duration_s": 120}
    r = await host.call("POST", f"/api/rooms/{room}/drops", body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _close(clients: Sequence[Client]) -> None:
    await asyncio.gather(*(c.close() for c in clients))


async def _drop_ends(redis_url: str, prefix: str, room: str) -> list[dict[str, Any]]:
    red = aioredis.from_url(redis_url, decode_responses=True)
    try:
        entries = await red.xrange(RoomKeys(prefix, room).events)
    finally:
        await red.aclose()
    return [e for e in (orjson.loads(f["e"]) for _, f in entries) if e["t"] == "drop_end"]


async def _all_grabs(host: Any, room: str, drop: str) -> list[dict[str, Any]]:
    grabs: list[dict[str, Any]] = []
    after = 0
    while True:
        r = await host.call("GET", f"/api/rooms/{room}/drops/{drop}?after={after}")
        assert r.status_code == 200, r.text
        body = r.json()
        grabs += body["grabs"]
        if body["next"] is None:
            return grabs
        after = body["next"]


async def test_two_thousand_grabbers_on_two_processes_take_exactly_the_hundred_envelopes(
    start_server: Callable[..., ServerProc], redis_url: str
) -> None:
    a, b = start_server(), start_server()
    room, host = await make_room(a, title="Envelope war")
    clients = await connect_crowd([a, b], room, 2_000, "w")
    try:
        total = 12_345
        drop = await _envelopes(host, room, 100, total)
        answers = await asyncio.gather(
            *(c.request({"t": "grab", "id": "g1", "drop": drop}, timeout=60) for c in clients)
        )
        won = {
            c.events[0]["you"]["id"]: ans["envelope"]["cents"]
            for c, ans in zip(clients, answers, strict=True)
            if ans["t"] == "ack"
        }
        codes = Counter(ans.get("code", "ack") for ans in answers)
        assert codes == {"ack": 100, "gone": 1_900}, codes
        assert len(won) == 100 and min(won.values()) >= 1 and sum(won.values()) == total
        # Re-sent ids get the same answers; a new id from a winner is refused.
        winners = [c for c, ans in zip(clients, answers, strict=True) if ans["t"] == "ack"]
        again = await asyncio.gather(
            *(c.request({"t": "grab", "id": "g1", "drop": drop}, timeout=60) for c in winners)
        )
        assert [x["envelope"] for x in again] == [ans["envelope"] for ans in answers if ans["t"] == "ack"]
        second = await winners[0].request({"t": "grab", "id": "g2", "drop": drop})
        assert second["code"] == "limit_reached", second

        grabs = await _all_grabs(host, room, drop)
        assert {g["user"]["id"]: g["cents"] for g in grabs} == won and len(grabs) == 100
        ends = await _drop_ends(redis_url, a.prefix, room)
        assert [(e["drop"], e["claimed"]) for e in ends] == [(drop, 100)]
        for c in clients[::100]:  # viewers on both processes see drop_end once
            c.rewind(0)
            await c.next_of("drop_end", timeout=20)
            assert [e["drop"] for e in c.durable() if e["t"] == "drop_end"] == [drop]
        red = aioredis.from_url(redis_url, decode_responses=True)
        try:
            balances = {u: int(await red.hget(user_wallet(a.prefix, u), "cents") or 0) for u in won}
        finally:
            await red.aclose()
        assert balances == won  # credited before the ack, once
    finally:
        await _close(clients)


async def test_the_window_closing_with_grabs_in_flight_ends_the_drop_once(
    start_server: Callable[..., ServerProc], redis_url: str
) -> None:
    a, b = start_server(), start_server()
    room, host = await make_room(a)
    clients = await connect_crowd([a, b], room, 300, "t")
    try:
        r = await host.call(
            "POST",
            f"/api/rooms/{room}/drops",
            {"kind": "coupon", "count": 10_000, "value_cents": 50, "duration_s": 5},
        )
        assert r.status_code == 201, r.text
        drop = r.json()
        rng = random.Random(5)
        ends_s = drop["ends_at_ms"] / 1000

        async def grab_near_the_end(c: Client) -> dict[str, Any]:
            await asyncio.sleep(max(0.0, ends_s - 0.6 + rng.random() * 1.2 - time.time()))
            return await c.request({"t": "grab", "id": "g1", "drop": drop["id"]}, timeout=60)

        answers = await asyncio.gather(*(grab_near_the_end(c) for c in clients))
        codes = Counter(ans.get("code", "ack") for ans in answers)
        assert set(codes) <= {"ack", "ended"} and codes["ack"] > 0 and codes["ended"] > 0, codes
        deadline = time.monotonic() + 20
        while not (ends := await _drop_ends(redis_url, a.prefix, room)):
            assert time.monotonic() < deadline, "no drop_end"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # both processes' timers and hubs have had their turns since
        ends = await _drop_ends(redis_url, a.prefix, room)
        assert [(e["drop"], e["claimed"]) for e in ends] == [(drop["id"], codes["ack"])]
        grabs = await _all_grabs(host, room, drop["id"])
        assert len(grabs) == codes["ack"] and all(g["ts_ms"] < drop["ends_at_ms"] for g in grabs)
    finally:
        await _close(clients)


async def test_a_process_killed_mid_drop_leaves_every_acked_grab_in_the_wallet(
    start_server: Callable[..., ServerProc],
) -> None:
    doomed, survivor = start_server(), start_server()
    room, host = await make_room(survivor)
    on_doomed = await connect_crowd([doomed], room, 150, "k")
    on_survivor = await connect_crowd([survivor], room, 150, "s")
    total = 50_000
    drop = await _envelopes(host, room, 400, total)
    acked: dict[str, int] = {}
    rng = random.Random(9)

    async def grab(c: Client, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            ans = await c.request({"t": "grab", "id": "g1", "drop": drop}, timeout=30)
        except (AssertionError, websockets.ConnectionClosed):
            return  # the socket died under it: no ack
        assert ans["t"] == "ack", ans
        acked[c.events[0]["you"]["id"]] = ans["envelope"]["cents"]

    tasks = [asyncio.create_task(grab(c, rng.random() * 2.0)) for c in on_doomed + on_survivor]
    await asyncio.sleep(0.8)
    doomed.kill()
    await asyncio.gather(*tasks)
    try:
        assert 0 < len([u for u in acked if u.startswith("k")]) < 150  # the kill fell mid-drop
        # The doomed process's grabbers come back on the survivor and re-send their ids.
        back = await connect_crowd([survivor], room, 150, "k")
        for c in back:
            ans = await c.request({"t": "grab", "id": "g1", "drop": drop})
            user = c.events[0]["you"]["id"]
            assert ans["t"] == "ack", ans
            assert acked.setdefault(user, ans["envelope"]["cents"]) == ans["envelope"]["cents"]
        await _close(back)
        async with httpx.AsyncClient(base_url=survivor.url, timeout=20) as http:
            for user, cents in acked.items():
                token = survivor.token(name=user, sub=user)
                wallet = (
                    await http.get("/api/me/wallet", headers={"Authorization": f"Bearer {token}"})
                ).json()
                assert wallet["cents"] == cents, (user, wallet)
        grabs = await _all_grabs(host, room, drop)
        assert {g["user"]["id"]: g["cents"] for g in grabs} == acked
        body = (await host.call("GET", f"/api/rooms/{room}/drops/{drop}")).json()
        assert sum(acked.values()) == total - body["left_cents"]
    finally:
        await _close(on_survivor)
        for c in on_doomed:  # their server is gone: each sees the connection drop (1006)
            assert await c.closed(10) == 1006
