"""Drop grabs (issue 14): grabs per second and ack latency end to end over WebSockets, with one and
two ``live serve`` processes on one Redis, beside the ceiling: grab.lua driven straight at Redis by
redis-benchmark with the keys and arguments the server uses (``DropStore.grab_call``), in one run.

Every grabber holds one WebSocket; when the room's durable ``drop`` event arrives it sends one grab
at once and times the answer. By default the drop is for everyone (``--count`` = grabbers), so every
grab takes the full path (cut, record, credit), as every grab of the ceiling does. grabs/s = answers
/ (last answer - first grab sent), over all grabber processes (one clock: one machine).

    python bench/drops.py --grabbers 5000 --servers 1,2 --kind envelope
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._harness import (
    RedisProc,
    ServerProc,
    cpu_seconds,
    percentile,
    run,
    start_redis,
    start_server,
    token,
)

ROOM = "bench-drops"
LUA = Path(__file__).resolve().parent.parent / "live" / "lua"
WINDOW_S = 60  # longer than any burst: every grab lands inside the window
CEILING_REQUESTS = 100_000  # one drop of the contract's largest count per ceiling run
WAIT_S = 120.0  # the most a grabber waits for the drop, and then for its answer


def grabber_process(urls: list[str], first: int, count: int, conn: mp.connection.Connection) -> None:
    conn.send(run(_grabbers(urls, first, count, conn)))


async def _grabbers(
    urls: list[str], first: int, count: int, conn: mp.connection.Connection
) -> dict[str, object]:
    import websockets

    sem = asyncio.Semaphore(200)
    conns = []

    async def open_one(i: int) -> None:
        n = first + i
        ws_url = urls[n % len(urls)].replace("http://", "ws://")
        async with sem:
            ws = await websockets.connect(
                f"{ws_url}/ws/{ROOM}?token={token(f'g{n}')}",
                compression=None,
                open_timeout=120,
                max_size=None,
                ping_interval=None,
            )
            await ws.recv()  # hello
            conns.append(ws)

    await asyncio.gather(*(open_one(i) for i in range(count)))
    conn.send("ready")
    cpu0 = time.process_time()
    sent: list[float] = []
    answered: list[float] = []
    codes: dict[str, int] = {}
    wins = 0

    async def grab(ws: Any) -> None:
        nonlocal wins
        try:
            async with asyncio.timeout(WAIT_S):
                drop_id = None
                while drop_id is None:
                    for event in orjson.loads(await ws.recv()):
                        if event.get("t") == "drop":
                            drop_id = event["drop"]["id"]
            t_sent = time.time()
            await ws.send(orjson.dumps({"t": "grab", "id": "g1", "drop": drop_id}).decode())
            async with asyncio.timeout(WAIT_S):
                while True:
                    hit = [e for e in orjson.loads(await ws.recv()) if e.get("id") == "g1"]
                    if hit:
                        break
        except (TimeoutError, websockets.ConnectionClosed) as err:
            # Counted, not fatal: a closed or silent connection is a finding of the run.
            what = "timeout" if isinstance(err, TimeoutError) else f"closed_{ws.close_code}"
            codes[what] = codes.get(what, 0) + 1
            return
        answered.append(time.time())
        sent.append(t_sent)
        if hit[0]["t"] == "ack":
            wins += 1
        else:
            codes[hit[0]["code"]] = codes.get(hit[0]["code"], 0) + 1

    await asyncio.gather(*(grab(ws) for ws in conns))
    cpu_s = time.process_time() - cpu0
    for ws in conns:
        await ws.close()
    return {"sent": sent, "answered": answered, "wins": wins, "codes": codes, "cpu_s": cpu_s}


def host_headers(room: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token('bench-host', 'host', room)}"}


def open_room(url: str, room: str) -> None:
    headers = host_headers(room)
    httpx.put(f"{url}/api/rooms/{room}", json={"title": "drops bench"}, headers=headers).raise_for_status()
    httpx.post(f"{url}/api/rooms/{room}/start", headers=headers).raise_for_status()


def create_drop(url: str, room: str, kind: str, count: int) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "count": count, "duration_s": WINDOW_S}
    body |= {"total_cents": 100 * count} if kind == "envelope" else {"value_cents": 500}
    r = httpx.post(f"{url}/api/rooms/{room}/drops", json=body, headers=host_headers(room))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def end_to_end(
    redis: RedisProc, servers: int, grabbers: int, count: int, kind: str, procs: int
) -> dict[str, Any]:
    redis.client().flushall()
    procs_ = [start_server(redis.url) for _ in range(servers)]
    urls = [s.url for s in procs_]
    try:
        open_room(urls[0], ROOM)
        per = grabbers // procs
        pipes, workers = [], []
        ctx = mp.get_context("spawn")
        for p in range(procs):
            parent, child = ctx.Pipe()
            w = ctx.Process(target=grabber_process, args=(urls, p * per, per, child))
            w.start()
            child.close()  # a grabber that dies must end our recv (EOFError), not leave it waiting
            pipes.append(parent)
            workers.append(w)
        for pipe in pipes:
            assert pipe.recv() == "ready"
        cpu0 = [cpu_seconds(s.proc.pid) for s in procs_]
        t0 = time.time()
        drop = create_drop(urls[0], ROOM, kind, count)
        results = [pipe.recv() for pipe in pipes]
        wall = time.time() - t0
        cpu = sum(cpu_seconds(s.proc.pid) - c for s, c in zip(procs_, cpu0, strict=True))
        for w in workers:
            w.join()
        sent = [x for r in results for x in r["sent"]]
        answered = [x for r in results for x in r["answered"]]
        latencies = [(a - s) * 1000 for r in results for s, a in zip(r["sent"], r["answered"], strict=True)]
        listed, after = 0, 0
        while after is not None:  # 1,000 grabs a page
            page = httpx.get(
                f"{urls[0]}/api/rooms/{ROOM}/drops/{drop['id']}?after={after}", headers=host_headers(ROOM)
            ).json()
            listed, after = listed + len(page["grabs"]), page["next"]
        wins = sum(r["wins"] for r in results)
        return {
            "grabs": len(answered),
            "grabs_per_s": len(answered) / (max(answered) - min(sent)),
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "wins": wins,
            "listed": listed,
            "codes": {k: sum(x["codes"].get(k, 0) for x in results) for r in results for k in r["codes"]},
            "client_cpu_pct": 100 * sum(r["cpu_s"] for r in results) / wall,
            "server_cpu_pct": 100 * cpu / wall,
        }
    finally:
        for s in procs_:
            s.stop()


def redis_ceiling(
    redis: RedisProc, server: ServerProc, room: str, kind: str, pipeline: int
) -> dict[str, float]:
    """redis-benchmark EVALSHA of grab.lua on a fresh drop of 100,000, each call a new user and id."""
    from redis.asyncio import Redis

    from live.drops import DropStore
    from live.settings import Settings
    from live.store import RoomStore

    open_room(server.url, room)
    drop = create_drop(server.url, room, kind, CEILING_REQUESTS)
    store = RoomStore(Redis.from_url(redis.url), Settings(key_prefix=server.prefix))
    now = int(time.time() * 1000)
    keys, args = DropStore(store).grab_call(room, "u__rand_int__", drop["id"], "g__rand_int__", now)
    cli = ["redis-cli", "-p", str(redis.port)]
    script = (LUA / "_lib.lua").read_text() + "\n" + (LUA / "grab.lua").read_text()
    sha = subprocess.run([*cli, "script", "load", script], capture_output=True, text=True).stdout.strip()
    out = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(redis.port),
            "-n",
            str(CEILING_REQUESTS),
            "-c",
            "50",
            "-P",
            str(pipeline),
            "-r",
            "1000000000",
            "--csv",
            "evalsha",
            sha,
            str(len(keys)),
            *keys,
            *[str(a) for a in args],
        ],
        capture_output=True,
        text=True,
    ).stdout
    # --csv columns: test, rps, avg, min, p50, p95, p99, max (latencies in ms)
    row = [c.strip('"') for c in out.strip().splitlines()[-1].split(",")]
    # redis-benchmark counts error replies as requests too: the drop's own count says how many took.
    listing = httpx.get(f"{server.url}/api/rooms/{room}/drops", headers=host_headers(room)).json()
    [made] = [d for d in listing["drops"] if d["id"] == drop["id"]]
    return {"rps": float(row[1]), "p50": float(row[4]), "p99": float(row[6]), "claimed": made["claimed"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grabbers", type=int, default=5000)
    parser.add_argument("--count", type=int, help="the drop's count (default: one for every grabber)")
    parser.add_argument("--servers", default="1,2", help="live serve processes on the one Redis, per row")
    parser.add_argument("--kind", default="envelope", choices=("envelope", "coupon"))
    parser.add_argument("--fsync", default="everysec")
    parser.add_argument("--procs", type=int, default=2, help="grabber processes")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    count = args.count or args.grabbers
    print(
        f"machine: {os.cpu_count()} cores shared by everything; Redis appendfsync {args.fsync}; "
        f"{args.grabbers} grabbers over WebSockets in {args.procs} processes, one {args.kind} drop of "
        f"{count}, each grabber grabs once on the drop event; ceiling = redis-benchmark EVALSHA grab.lua "
        "(50 clients, a new user and request id per call, on a drop of 100,000); ratio = ws grabs/s over "
        "ceiling P1; lost = acked grabs not in the server's list",
        flush=True,
    )
    redis = start_redis(appendfsync=args.fsync)
    try:
        server = start_server(redis.url)
        try:
            ceiling1 = redis_ceiling(redis, server, "bench-ceiling-1", args.kind, 1)
            ceiling16 = redis_ceiling(redis, server, "bench-ceiling-16", args.kind, 16)
        finally:
            server.stop()
        for name, c in (("P1", ceiling1), ("P16", ceiling16)):
            print(f"ceiling {name}: {c['claimed']} of {CEILING_REQUESTS} calls took a unit", flush=True)
        print(
            f"{'servers':>7} {'grabs':>6} {'grabs/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'srv CPU%':>8} "
            f"{'cli CPU%':>8} {'wins':>5} {'lost':>4} {'ceil P1':>8} {'P1 p99':>6} {'ceil P16':>8} "
            f"{'ratio P1':>8}  errors",
            flush=True,
        )
        for _ in range(args.rounds):
            for servers in [int(x) for x in args.servers.split(",")]:
                e2e = end_to_end(redis, servers, args.grabbers, count, args.kind, args.procs)
                lost = max(0, e2e["wins"] - e2e["listed"])
                print(
                    f"{servers:>7} {e2e['grabs']:>6} {e2e['grabs_per_s']:>8.0f} {e2e['p50']:>7.1f} "
                    f"{e2e['p99']:>7.1f} {e2e['server_cpu_pct']:>8.0f} {e2e['client_cpu_pct']:>8.0f} "
                    f"{e2e['wins']:>5} {lost:>4} {ceiling1['rps']:>8.0f} {ceiling1['p99']:>6.2f} "
                    f"{ceiling16['rps']:>8.0f} {e2e['grabs_per_s'] / ceiling1['rps']:>8.2f}  "
                    f"{e2e['codes'] or ''}",
                    flush=True,
                )
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
