"""Flash-sale grabs: buys per second and ack latency end to end over WebSockets, beside the
ceiling: the same Lua buy script driven straight at Redis by redis-benchmark, in one run.

    python bench/flashsale.py --buyers 1000,5000 --duration 10 --fsync always,everysec
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._harness import RedisProc, cpu_seconds, percentile, run, start_redis, start_server, token
from live.keys import RoomKeys

ROOM = "bench-sale"
LUA = Path(__file__).resolve().parent.parent / "live" / "lua"


def buyer_process(url: str, first: int, count: int, duration: float, conn: mp.connection.Connection) -> None:
    conn.send(run(_buyers(url, first, count, duration)))


async def _buyers(url: str, first: int, count: int, duration: float) -> dict[str, object]:
    import websockets

    ws_url = url.replace("http://", "ws://")
    sem = asyncio.Semaphore(200)
    conns = []

    async def open_one(i: int) -> None:
        async with sem:
            ws = await websockets.connect(
                f"{ws_url}/ws/{ROOM}?token={token(f'b{first + i}')}",
                compression=None,
                open_timeout=60,
                max_size=None,
            )
            await ws.recv()
            conns.append(ws)

    await asyncio.gather(*(open_one(i) for i in range(count)))
    latencies: list[float] = []
    codes: dict[str, int] = {}
    units = 0
    start_at = time.monotonic() + 0.5
    stop_at = start_at + duration

    async def shop(n: int, ws) -> None:  # type: ignore[no-untyped-def]
        nonlocal units
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        k = 0
        while time.monotonic() < stop_at:
            rid = f"r{k}"
            sent = time.perf_counter()
            await ws.send(orjson.dumps({"t": "buy", "id": rid, "pin": "p1", "qty": 1}).decode())
            while True:
                for event in orjson.loads(await ws.recv()):
                    if event.get("id") == rid:
                        break
                else:
                    continue
                break
            latencies.append((time.perf_counter() - sent) * 1000)
            if event["t"] == "ack":
                units += 1
            else:
                codes[event["code"]] = codes.get(event["code"], 0) + 1
            k += 1

    await asyncio.gather(*(shop(n, ws) for n, ws in enumerate(conns)))
    for ws in conns:
        await ws.close()
    return {"latencies": latencies, "units": units, "codes": codes}


def redis_ceiling(redis: RedisProc, pipeline: int, clients: int = 50, requests: int = 200_000) -> float:
    keys = RoomKeys("live:", "ceiling")
    script = (LUA / "_lib.lua").read_text() + "\n" + (LUA / "buy.lua").read_text()
    cli = ["redis-cli", "-p", str(redis.port)]
    sha = subprocess.run([*cli, "script", "load", script], capture_output=True, text=True).stdout.strip()
    now = int(time.time() * 1000)
    subprocess.run([*cli, "hset", keys.meta, "status", "live", "seq", "0"], capture_output=True)
    subprocess.run(
        [
            *cli,
            "hset",
            keys.pin,
            "id",
            "p1",
            "state",
            "live",
            "stock_total",
            "100000000",
            "stock_left",
            "100000000",
            "limit_per_user",
            "1000000",
            "starts_at_ms",
            "0",
            "ends_at_ms",
            str(now + 3_600_000),
            "price_cents",
            "100",
            "tier",
            "0",
        ],
        capture_output=True,
    )
    key_list = keys.buy_keys()
    out = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(redis.port),
            "-n",
            str(requests),
            "-c",
            str(clients),
            "-P",
            str(pipeline),
            "-r",
            "100000000",
            "-q",
            "evalsha",
            sha,
            str(len(key_list)),
            *key_list,
            str(now),
            "2000",
            "u__rand_int__",
            "p1",
            "1",
            "q__rand_int__",
            "o__rand_int__",
            '"bench"',  # the buyer's name, as JSON
        ],
        capture_output=True,
        text=True,
    ).stdout
    match = re.findall(r"([\d.]+) requests per second", out)
    return float(match[-1]) if match else float("nan")


def end_to_end(redis: RedisProc, buyers: int, duration: float, procs: int) -> dict[str, float]:
    server = start_server(redis.url, env={"LIVE_FRAMES_PER_S": "0"})
    try:
        headers = {"Authorization": f"Bearer {token('bench-host', 'host', ROOM)}"}
        httpx.put(f"{server.url}/api/rooms/{ROOM}", json={"title": "sale bench"}, headers=headers)
        httpx.post(f"{server.url}/api/rooms/{ROOM}/start", headers=headers)
        r = httpx.post(
            f"{server.url}/api/rooms/{ROOM}/pins",
            headers=headers,
            json={
                "id": "p1",
                "product": {"id": "x", "title": "X", "list_price_cents": 100},
                "stock": 1_000_000,
                "limit_per_user": 100,
                "duration_s": 3600,
                "tiers": [{"at": 0, "price_cents": 100}],
            },
        )
        assert r.status_code == 201, r.text
        pipes, workers = [], []
        per = buyers // procs
        cpu0 = cpu_seconds(server.proc.pid)
        t0 = time.monotonic()
        for p in range(procs):
            parent, child = mp.Pipe()
            w = mp.Process(target=buyer_process, args=(server.url, p * per, per, duration, child))
            w.start()
            pipes.append(parent)
            workers.append(w)
        results = [pipe.recv() for pipe in pipes]
        for w in workers:
            w.join()
        lat = [x for r in results for x in r["latencies"]]
        units = sum(r["units"] for r in results)
        orders = httpx.get(f"{server.url}/api/rooms/{ROOM}/stats", headers=headers).json()["units"]
        return {
            "grabs_per_s": len(lat) / duration,
            "p50": percentile(lat, 50),
            "p99": percentile(lat, 99),
            "units_acked": units,
            "units_recorded": orders,
            "errors": sum(sum(r["codes"].values()) for r in results),
            "server_cpu_pct": 100 * (cpu_seconds(server.proc.pid) - cpu0) / (time.monotonic() - t0),
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buyers", default="1000,5000")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--fsync", default="always,everysec")
    parser.add_argument("--procs", type=int, default=2)
    args = parser.parse_args()
    print(
        "machine: 2 shared cores; one `live serve` process; buyers in separate processes, each buying one "
        "unit at a time for the duration; ceiling = redis-benchmark EVALSHA of the same buy script "
        "(50 clients)"
    )
    print(
        f"{'fsync':>9} {'buyers':>7} {'grabs/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'srv CPU%':>8} "
        f"{'ceiling P1':>10} {'ceiling P16':>11} {'ratio P1':>8} {'lost':>5}"
    )
    for fsync in args.fsync.split(","):
        for buyers in [int(x) for x in args.buyers.split(",")]:
            redis = start_redis(appendfsync=fsync)
            try:
                ceiling1 = redis_ceiling(redis, pipeline=1)
                ceiling16 = redis_ceiling(redis, pipeline=16)
                e2e = end_to_end(redis, buyers, args.duration, args.procs)
            finally:
                redis.stop()
            lost = max(0, e2e["units_acked"] - e2e["units_recorded"])  # acked but not recorded
            print(
                f"{fsync:>9} {buyers:>7} {e2e['grabs_per_s']:>9.0f} {e2e['p50']:>7.1f} {e2e['p99']:>7.1f} "
                f"{e2e['server_cpu_pct']:>8.0f} {ceiling1:>10.0f} {ceiling16:>11.0f} "
                f"{e2e['grabs_per_s'] / ceiling1:>8.2f} {lost:>5}",
                flush=True,
            )


if __name__ == "__main__":
    main()
