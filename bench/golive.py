"""Going live with 1,000,000 followers: the start request costs what it costs with 10 (contract §9).

    python bench/golive.py                                  # 1,000,000 followers, 2,000 on /ws/me
    python bench/golive.py --followers 100000 --connected 500 --rounds 3

Starts its own redis-server (AOF on, as `live serve` runs it) and three `live serve` processes on
it (A, B, C: one service). Seeds the followers of one host ("star") straight into Redis, bypassing
the API, with pipelined ZADD of the followers set and HSET of the versions hash in the exact shape
live/social.py (relation_apply.lua) writes them: every member at score 0, every version 1. A
second host ("small") gets 10 followers the same way. ``--connected`` of the star's followers, spread
evenly over the million, hold /ws/me, half on A and half on B. A third process, C, holds no socket.
Then rooms of both hosts go live one at a time with ``POST /api/rooms/{room}/start``, in rounds of
four (small via C, star via C, small via A, star via A), and it prints:

- the start request's latency, room by room, and the median per host and process, and their ratio.
  Via C it is the request path alone, where nothing is per follower, so the ratio should be ~1. Via
  A the response shares A's event loop with A's go-live work for its own 1,000 sockets (a lookup
  per 1,000 local users and a frame each), which the small host's start does not set off: that is
  per connected user of the process, still not per follower;
- for each of the star's rooms, the time from sending the start to each connected follower's
  ``live`` event (p50/p99/max over them; all must arrive, once);
- Redis memory per follower: INFO used_memory after minus before the seeding, over the followers,
  and MEMORY USAGE of the two keys.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import httpx
import orjson
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._harness import PassiveViewer, open_passive, percentile, run, start_redis, start_server, token
from kit.procs import ServerProc
from live.keys import host_follower_versions, host_followers

PREFIX = "live:"  # bench/_harness.py start_server's key prefix
STAR, SMALL = "star", "small"
SMALL_FOLLOWERS = 10
MEMBERS_PER_COMMAND = 1000
COMMANDS_PER_PIPELINE = 50
CONNECT_AT_ONCE = 200
ALL_TOLD_TIMEOUT_S = 60.0


def follower_id(n: int) -> str:
    return f"fan{n:07d}"


async def seed(redis: aioredis.Redis, host: str, ids: list[str]) -> float:
    """The host's followers as relation_apply.lua leaves them; seconds it took."""
    started = time.perf_counter()
    followers, versions = host_followers(PREFIX, host), host_follower_versions(PREFIX, host)
    pipe = redis.pipeline(transaction=False)
    queued = 0
    for first in range(0, len(ids), MEMBERS_PER_COMMAND):
        chunk = ids[first : first + MEMBERS_PER_COMMAND]
        pipe.zadd(followers, dict.fromkeys(chunk, 0))
        pipe.hset(versions, mapping=dict.fromkeys(chunk, 1))
        queued += 2
        if queued >= COMMANDS_PER_PIPELINE:
            await pipe.execute()
            queued = 0
    if queued:
        await pipe.execute()
    return time.perf_counter() - started


class Listener:
    """The ``live`` events that reach the connected followers: (room, user) -> arrival time."""

    def __init__(self) -> None:
        self.arrived: dict[str, dict[str, float]] = {}
        self.duplicates = 0

    def on_text(self, user: str, payload: bytes) -> None:
        now = time.perf_counter()
        if b'"t":"live"' not in payload:
            return
        for event in orjson.loads(payload):
            if event.get("t") == "live":
                room = self.arrived.setdefault(event["room"]["id"], {})
                if user in room:
                    self.duplicates += 1
                room.setdefault(user, now)


async def connect(servers: list[ServerProc], users: list[str], listener: Listener) -> list[PassiveViewer]:
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def one(i: int, user: str) -> PassiveViewer:
        server = servers[i % len(servers)]
        async with gate:
            return await open_passive(
                server.host,
                server.port,
                f"/ws/me?token={token(user)}",
                lambda payload: listener.on_text(user, payload),
                i,
            )

    return list(await asyncio.gather(*(one(i, u) for i, u in enumerate(users))))


async def make_room(http: httpx.AsyncClient, host: str, room: str) -> str:
    """A scheduled room of ``host``; the host's token for it."""
    tok = token(host, role="host", room=room)
    r = await http.put(f"/api/rooms/{room}", json={"title": room}, headers={"Authorization": f"Bearer {tok}"})
    r.raise_for_status()
    return tok


async def start(http: httpx.AsyncClient, room: str, tok: str) -> tuple[float, float]:
    """(when the start was sent, its latency in seconds)."""
    sent = time.perf_counter()
    r = await http.post(f"/api/rooms/{room}/start", headers={"Authorization": f"Bearer {tok}"})
    took = time.perf_counter() - sent
    r.raise_for_status()
    return sent, took


async def told(listener: Listener, room: str, connected: int) -> dict[str, float]:
    deadline = time.perf_counter() + ALL_TOLD_TIMEOUT_S
    while len(listener.arrived.get(room, {})) < connected and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    return listener.arrived.get(room, {})


async def bench(followers: int, connected: int, rounds: int) -> None:
    redis_proc = start_redis()
    a = start_server(redis_proc.url)
    b = start_server(redis_proc.url)
    c = start_server(redis_proc.url)  # holds no /ws/me socket: its start requests are the request path alone
    redis = aioredis.Redis.from_url(redis_proc.url, decode_responses=True)
    viewers: list[PassiveViewer] = []
    listener = Listener()
    via = {
        "C": httpx.AsyncClient(base_url=c.url, timeout=30),
        "A": httpx.AsyncClient(base_url=a.url, timeout=30),
    }
    try:
        print(
            f"go-live: {followers:,} followers of one host, {connected:,} of them on /ws/me over processes "
            f"A and B; the starts go to A or to C (no sockets); {platform.machine()}, "
            f"{os.cpu_count()} cores, {datetime.date.today().isoformat()}, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        plan = [(i, proc, host) for i in range(rounds) for proc in via for host in (SMALL, STAR)]
        tokens = {}
        for i, proc, host in plan:
            room = f"{host}-{proc.lower()}-{i}"
            tokens[room] = await make_room(via["C"], host, room)
        await seed(redis, SMALL, [f"small-fan{n}" for n in range(SMALL_FOLLOWERS)])

        await redis.memory_purge()
        before = int((await redis.info("memory"))["used_memory"])
        ids = [follower_id(n) for n in range(followers)]
        took = await seed(redis, STAR, ids)
        after = int((await redis.info("memory"))["used_memory"])
        zset_bytes = int(await redis.memory_usage(host_followers(PREFIX, STAR), samples=0) or 0)
        hash_bytes = int(await redis.memory_usage(host_follower_versions(PREFIX, STAR), samples=0) or 0)
        assert await redis.zcard(host_followers(PREFIX, STAR)) == followers
        print(
            f"seeded {followers:,} followers in {took:.1f} s ({followers / took:,.0f}/s), "
            "straight into Redis (bypassing the API): pipelined ZADD of the followers set and "
            "HSET of the versions hash, the shape live/social.py writes"
        )
        print(
            f"redis used_memory {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB: "
            f"{(after - before) / followers:.0f} bytes per follower; MEMORY USAGE followers zset "
            f"{zset_bytes / 1e6:.1f} MB ({zset_bytes / followers:.0f} B each), versions hash "
            f"{hash_bytes / 1e6:.1f} MB ({hash_bytes / followers:.0f} B each)"
        )

        step = max(1, followers // connected)
        listening = [ids[i * step] for i in range(connected)]
        t0 = time.perf_counter()
        viewers = await connect([a, b], listening, listener)
        connect_s = time.perf_counter() - t0
        print(f"{len(viewers):,} followers connected on /ws/me (half on A, half on B) in {connect_s:.1f} s")
        await asyncio.sleep(1.0)

        for http in via.values():  # warm the client's connections and the servers' code paths
            for _ in range(5):
                await http.get("/healthz")
        latency: dict[tuple[str, str], list[float]] = {(proc, host): [] for _i, proc, host in plan}
        spreads: list[list[float]] = []
        print("room       start via  start request   live events at the connected followers, from the start")
        for i, proc, host in plan:
            room = f"{host}-{proc.lower()}-{i}"
            sent, took = await start(via[proc], room, tokens[room])
            latency[(proc, host)].append(took)
            line = f"{room:<11}  {proc:<8}  {took * 1000:8.2f} ms    "
            if host == SMALL:
                print(f"{line} ({SMALL_FOLLOWERS} followers, none connected)")
                continue
            got = await told(listener, room, connected)
            after_ms = [(t - sent) * 1000 for t in got.values()]
            spreads.append(after_ms)
            print(
                f"{line} {len(got):,}/{connected:,} told: p50 {percentile(after_ms, 50):.0f}  "
                f"p99 {percentile(after_ms, 99):.0f}  max {max(after_ms, default=float('nan')):.0f} ms"
            )
            await asyncio.sleep(0.5)  # nothing of this start still in flight when the next begins

        for proc in via:
            small_med = statistics.median(latency[(proc, SMALL)])
            star_med = statistics.median(latency[(proc, STAR)])
            print(
                f"start request via {proc}, median of {rounds}: {SMALL_FOLLOWERS} followers "
                f"{small_med * 1000:.2f} ms, {followers:,} followers {star_med * 1000:.2f} ms: "
                f"ratio {star_med / small_med:.2f}"
            )
        every = [ms for spread in spreads for ms in spread]
        small_told = sum(len(v) for room, v in listener.arrived.items() if room.startswith(SMALL))
        print(
            f"live events, all {len(spreads)} rooms of the star: p50 {percentile(every, 50):.0f}  "
            f"p99 {percentile(every, 99):.0f}  max {max(every, default=float('nan')):.0f} ms; "
            f"duplicates {listener.duplicates}; the small host's rooms told {small_told} (none follow it)"
        )
        print(f"load average at the end {os.getloadavg()[0]:.1f} (other work on the machine shows here)")
        assert all(len(spread) == connected for spread in spreads), "a connected follower was not told"
        assert listener.duplicates == 0 and small_told == 0
    finally:
        for viewer in viewers:
            viewer.close()
        for http in via.values():
            await http.aclose()
        await redis.aclose()
        for server in (a, b, c):
            server.stop()
        redis_proc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument("--connected", type=int, default=2_000, help="followers holding /ws/me")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="rounds; each starts 4 rooms one at a time: the small host's and the star's, via C and via A",
    )
    args = parser.parse_args()
    if not 1 <= args.connected <= args.followers:
        parser.error("--connected must be 1..--followers")
    run(bench(args.followers, args.connected, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
