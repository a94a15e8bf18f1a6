"""Auctions over HTTP and WebSocket on real processes: the host's auction, bids with every error of
§11, extension, the winner's order, 300 bidders racing the end of a sudden-death auction on two
processes, and a kill -9 of the process that would have ended it."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from live.keys import RoomKeys
from tests.support import Client, Http, ServerProc, connect_crowd, make_room

CARD = {"id": "card-1", "title": "Rookie card", "list_price_cents": 5000}


def auction_body(**changes: Any) -> dict[str, Any]:
    body = {"product": CARD, "start_cents": 1000, "increment_cents": 100, "duration_s": 30, "extend_s": 10}
    return {**body, **changes}


async def _stream(redis_url: str, prefix: str, room: str) -> list[dict[str, Any]]:
    red = aioredis.from_url(redis_url, decode_responses=True)
    try:
        return [orjson.loads(f["e"]) for _, f in await red.xrange(RoomKeys(prefix, room).events)]
    finally:
        await red.aclose()


async def test_bids_are_told_to_everyone_and_the_winner_gets_the_order(
    start_server: Callable[..., ServerProc],
) -> None:
    a, b = start_server(), start_server()
    room, host = await make_room(a)
    bob = await Client.connect(a, room, a.token(name="Bob", sub="bob"))
    ann = await Client.connect(b, room, b.token(name="Ann", sub="ann"))
    anon = await Client.connect(b, room)
    refused = await Http(a, a.token(sub="bob")).call("POST", f"/api/rooms/{room}/auctions", auction_body())
    assert refused.status_code == 403, refused.text
    bad = await host.call("POST", f"/api/rooms/{room}/auctions", auction_body(extend_s=61))
    assert bad.status_code == 400 and "extend_s" in bad.json()["message"], bad.text
    r = await host.call(
        "POST", f"/api/rooms/{room}/auctions", auction_body(id="a1", duration_s=6, extend_s=3)
    )
    assert r.status_code == 201, r.text
    auction = r.json()
    for v in (bob, ann):
        assert (await v.next_of("auction"))["auction"] == auction

    low = await bob.request({"t": "bid", "id": "x1", "auction": "a1", "cents": 999})
    assert low["code"] == "too_low" and low["min_cents"] == 1000, low
    assert (await anon.request({"t": "bid", "id": "x1", "auction": "a1", "cents": 5000}))[
        "code"
    ] == "unauthorized"
    host_ws = await Client.connect(a, room, host.token)
    assert (await host_ws.request({"t": "bid", "id": "h1", "auction": "a1", "cents": 5000}))[
        "code"
    ] == "forbidden"
    missing = await bob.request({"t": "bid", "id": "x2", "auction": "zz", "cents": 5000})
    assert missing["code"] == "no_such_auction", missing
    early = await bob.request({"t": "bid", "id": "b1", "auction": "a1", "cents": 1000})
    assert early["bid"]["ends_at_ms"] == auction["ends_at_ms"], early  # 6 s left > 3 s: no extension
    seen = await ann.next_of("bid")
    assert seen["user"] == {"id": "bob", "name": "Bob"} and seen["cents"] == 1000
    # Wait until less than extend_s is left, then outbid: the end moves to the bid's time + 3 s.
    await asyncio.sleep(max(0.0, auction["ends_at_ms"] / 1000 - time.time() - 1.5))
    late = await ann.request({"t": "bid", "id": "c1", "auction": "a1", "cents": 1100})
    assert late["t"] == "ack" and late["bid"]["ends_at_ms"] > auction["ends_at_ms"], late
    end = await bob.next_of("auction_end", timeout=15)
    assert end["winner"] == {"id": "ann", "name": "Ann"} and end["cents"] == 1100
    assert abs(time.time() * 1000 - late["bid"]["ends_at_ms"]) < 3_000  # told near the moved end
    after = await bob.request({"t": "bid", "id": "b2", "auction": "a1", "cents": 9000})
    assert after["code"] == "ended", after

    orders = (await Http(b, b.token(sub="ann")).call("GET", "/api/me/orders")).json()["orders"]
    assert [(o["id"], o["auction"], o["total_cents"], o["state"]) for o in orders] == [
        ("won-a1", "a1", 1100, "confirmed")
    ]
    assert (await Http(a, a.token(sub="bob")).call("GET", "/api/me/orders")).json()["orders"] == []
    ladder = (await host.call("GET", f"/api/rooms/{room}/auctions/a1")).json()
    assert ladder["state"] == "ended" and [x["cents"] for x in ladder["ladder"]] == [1100, 1000]
    for c in (bob, ann, anon, host_ws):
        await c.close()


async def test_three_hundred_bidders_race_the_end_of_a_sudden_death_auction_on_two_processes(
    start_server: Callable[..., ServerProc], redis_url: str
) -> None:
    a, b = start_server(), start_server()
    room, host = await make_room(a)
    bidders = await connect_crowd([a, b], room, 300, "s")
    try:
        r = await host.call(
            "POST", f"/api/rooms/{room}/auctions", auction_body(id="sd", duration_s=5, extend_s=0)
        )
        assert r.status_code == 201, r.text
        ends_ms = r.json()["ends_at_ms"]
        rng = random.Random(3)

        async def race(i: int, c: Client) -> list[dict[str, Any]]:
            # Each bids twice in the last two seconds (some after the end), a price only it offers.
            answers = []
            for k in range(2):
                await asyncio.sleep(max(0.0, (ends_ms - 2_000 + rng.random() * 2_400) / 1000 - time.time()))
                cents = 1000 + 100 * (i * 2 + k) + rng.randrange(0, 50)
                answers.append(
                    await c.request({"t": "bid", "id": f"r{k}", "auction": "sd", "cents": cents}, 30)
                )
            return answers

        results = await asyncio.gather(*(race(i, c) for i, c in enumerate(bidders)))
        answers = [x for pair in results for x in pair]
        codes = Counter(x.get("code", "ack") for x in answers)
        assert set(codes) <= {"ack", "too_low", "ended"} and codes["ack"] > 0 and codes["ended"] > 0, codes
        acked = [x["bid"] for x in answers if x["t"] == "ack"]
        assert all(x["ends_at_ms"] == ends_ms for x in acked)  # sudden death: the end never moved
        deadline = time.monotonic() + 15
        while not [e for e in await _stream(redis_url, a.prefix, room) if e["t"] == "auction_end"]:
            assert time.monotonic() < deadline, "no auction_end"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        stream = await _stream(redis_url, a.prefix, room)
        bids = [e for e in stream if e["t"] == "bid"]
        (end,) = [e for e in stream if e["t"] == "auction_end"]
        assert len(bids) == len(acked)
        assert all(y["cents"] >= x["cents"] + 100 for x, y in itertools.pairwise(bids))
        assert all(stream.index(x) < stream.index(end) for x in bids)  # no bid after the end
        assert end["cents"] == bids[-1]["cents"] == max(x["cents"] for x in acked)
        assert end["winner"]["id"] == bids[-1]["user"]["id"]
        orders = (await host.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
        assert [(o["id"], o["user"], o["total_cents"]) for o in orders] == [
            ("won-sd", end["winner"]["id"], end["cents"])
        ]
        for c in bidders[::60]:  # every viewer saw the same ladder and one end
            c.rewind(0)
            await c.next_of("auction_end", timeout=15)
            assert [e["cents"] for e in c.durable() if e["t"] == "bid"] == [x["cents"] for x in bids]
            assert len([e for e in c.durable() if e["t"] == "auction_end"]) == 1
    finally:
        await asyncio.gather(*(c.close() for c in bidders))


async def test_the_survivor_ends_the_auction_when_the_process_that_would_have_is_killed(
    start_server: Callable[..., ServerProc], redis_url: str
) -> None:
    doomed, survivor = start_server(), start_server()
    room, host = await make_room(doomed)
    watcher = await Client.connect(survivor, room)
    r = await host.call(
        "POST", f"/api/rooms/{room}/auctions", auction_body(id="k1", duration_s=5, extend_s=0)
    )
    assert r.status_code == 201, r.text
    ends_ms = r.json()["ends_at_ms"]
    bidder = await Client.connect(doomed, room, doomed.token(name="Kim", sub="kim"))
    assert (await bidder.request({"t": "bid", "id": "k", "auction": "k1", "cents": 1000}))["t"] == "ack"
    doomed.kill()
    assert await bidder.closed(10) == 1006
    end = await watcher.next_of("auction_end", timeout=20)
    assert end["winner"] == {"id": "kim", "name": "Kim"} and end["cents"] == 1000
    assert time.time() * 1000 - ends_ms < 2_000  # on time, by the survivor's timer
    await asyncio.sleep(1.0)
    ends = [e for e in await _stream(redis_url, survivor.prefix, room) if e["t"] == "auction_end"]
    assert len(ends) == 1
    orders = (await Http(survivor, host.token).call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
    assert [o["id"] for o in orders] == ["won-k1"]
    await watcher.close()
