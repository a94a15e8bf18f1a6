"""Chat fan-out: delivery latency, deliveries per second and server CPU for N viewers at R posts/s.

Runs its own redis-server and one `live serve` process; viewers live in separate processes
(minimal readers: count frames, parse a 2% sample for latency). Prints one row per (N, R).

    python bench/fanout.py --viewers 1000,5000 --rates 50,200 --duration 10 --tick-ms 2,5,20,50
    python bench/fanout.py --viewers 20000 --rates 50 --procs 4 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._harness import (
    LOAD_TEST_ENV,
    ServerProc,
    cpu_seconds,
    open_passive,
    percentile,
    run,
    start_redis,
    token,
)

ROOM = "bench-fanout"
SAMPLE_EVERY = 50


def viewer_process(host: str, port: int, count: int, first: int, conn: mp.connection.Connection) -> None:
    run(_viewers(host, port, count, first, conn))


async def _viewers(host: str, port: int, count: int, first: int, conn: mp.connection.Connection) -> None:
    latencies: list[float] = []
    seen: dict[int, set[str]] = {}

    def sampler(idx: int):  # type: ignore[no-untyped-def]
        got = seen.setdefault(idx, set())

        def on_text(payload: bytes) -> None:
            now = time.time_ns()
            for event in orjson.loads(payload):
                if event.get("t") == "chat":
                    text = event["text"]
                    got.add(text)
                    latencies.append((now - int(text.split(" ", 2)[1])) / 1e6)

        return on_text

    viewers = []
    sem = asyncio.Semaphore(200)

    async def open_one(i: int) -> None:
        async with sem:
            idx = first + i
            on_text = sampler(idx) if idx % SAMPLE_EVERY == 0 else None
            viewers.append(await open_passive(host, port, f"/ws/{ROOM}", on_text, idx))

    await asyncio.gather(*(open_one(i) for i in range(count)))
    conn.send(("ready", len(viewers)))
    loop = asyncio.get_running_loop()
    while True:
        cmd = await loop.run_in_executor(None, conn.recv)
        if cmd == "reset":
            latencies.clear()
            for got in seen.values():
                got.clear()
            for v in viewers:
                v.frames = v.chat_events = v.bytes = 0
            conn.send("ok")
        elif isinstance(cmd, tuple) and cmd[0] == "report":
            expected = cmd[1]
            missing = sum(len(expected - got) for got in seen.values())
            conn.send(
                {
                    "frames": sum(v.frames for v in viewers),
                    "chat_events": sum(v.chat_events for v in viewers),
                    "latencies": latencies[:],
                    "missing_in_sample": missing,
                    "sampled": len(seen),
                    "closed": sum(v.closed for v in viewers),
                }
            )
        elif cmd == "stop":
            return


async def post_chat(host: str, port: int, rate: int, duration: float) -> set[str]:
    import websockets

    posters = []
    n_posters = max(4, rate // 10)
    for i in range(n_posters):
        ws = await websockets.connect(
            f"ws://{host}:{port}/ws/{ROOM}?token={token(f'poster{i}')}", compression=None
        )
        await ws.recv()
        posters.append(ws)

    async def drain(ws) -> None:  # type: ignore[no-untyped-def]
        try:
            async for _ in ws:
                pass
        except Exception:
            pass

    drains = [asyncio.create_task(drain(ws)) for ws in posters]
    texts: set[str] = set()
    interval = 1 / rate
    start = time.monotonic()
    i = 0
    while (elapsed := time.monotonic() - start) < duration:
        target = int(elapsed / interval) + 1
        while i < target:
            text = f"b {time.time_ns()} {i}"
            texts.add(text)
            await posters[i % n_posters].send(
                orjson.dumps({"t": "chat", "id": f"c{i}", "text": text}).decode()
            )
            i += 1
        await asyncio.sleep(interval / 2)
    for ws in posters:
        await ws.close()
    for task in drains:
        task.cancel()
    return texts


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def start(redis_url: str, tick_ms: int, workers: int) -> ServerProc:
    return ServerProc(
        redis_url,
        "live:",
        {
            **LOAD_TEST_ENV,
            "LIVE_TICK_MS": str(tick_ms),
            "LIVE_CHAT_RATE_POSTS": "0",
            "LIVE_FRAMES_PER_S": "0",
            "LIVE_OUTBOX_MAX_BYTES": str(4 << 20),
        },
        dev=False,
        workers=workers,
    )


def run_tick(redis_url: str, tick_ms: int, args: argparse.Namespace) -> None:
    server = start(redis_url, tick_ms, args.workers)
    try:
        pids = server.serving_pids()
        host_token = token("bench-host", "host", ROOM)
        headers = {"Authorization": f"Bearer {host_token}"}
        httpx.put(f"{server.url}/api/rooms/{ROOM}", json={"title": "fan-out bench"}, headers=headers)
        httpx.post(f"{server.url}/api/rooms/{ROOM}/start", headers=headers)
        for n in [int(x) for x in args.viewers.split(",")]:
            rss0 = sum(rss_bytes(p) for p in pids)
            join_cpu0 = sum(cpu_seconds(p) for p in pids)
            pipes, procs = [], []
            per = n // args.procs
            joining = time.monotonic()
            for p in range(args.procs):
                parent, child = mp.Pipe()
                proc = mp.Process(target=viewer_process, args=(server.host, server.port, per, p * per, child))
                proc.start()
                pipes.append(parent)
                procs.append(proc)
            connected = sum(pipe.recv()[1] for pipe in pipes)
            join_s = time.monotonic() - joining
            join_us = (sum(cpu_seconds(p) for p in pids) - join_cpu0) / max(1, connected) * 1e6
            time.sleep(1.0)
            per_viewer_kb = (sum(rss_bytes(p) for p in pids) - rss0) / max(1, connected) / 1024
            for rate in [int(x) for x in args.rates.split(",")]:
                for pipe in pipes:
                    pipe.send("reset")
                    pipe.recv()
                cpu0, t0 = sum(cpu_seconds(p) for p in pids), time.monotonic()
                texts = run(post_chat(server.host, server.port, rate, args.duration))
                time.sleep(1.5)  # let the tail arrive
                cpu1, t1 = sum(cpu_seconds(p) for p in pids), time.monotonic()
                reports = []
                for pipe in pipes:
                    pipe.send(("report", texts))
                    reports.append(pipe.recv())
                lat = [x for r in reports for x in r["latencies"]]
                chat_events = sum(r["chat_events"] for r in reports)
                frames = sum(r["frames"] for r in reports)
                wall = args.duration
                p50, p99 = percentile(lat, 50), percentile(lat, 99)
                row = [
                    f"{tick_ms:>5}",
                    f"{connected:>8}",
                    f"{rate:>8}",
                    f"{len(texts):>6}",
                    f"{p50:>8.1f}",
                    f"{p99:>8.1f}",
                    f"{max(lat, default=float('nan')):>8.1f}",
                    f"{chat_events / wall:>10.0f}",
                    f"{frames / wall:>9.0f}",
                    f"{100 * (cpu1 - cpu0) / (t1 - t0):>8.0f}",
                    f"{chat_events / wall / max(1e-9, (cpu1 - cpu0) / (t1 - t0)):>12.0f}",
                    f"{sum(r['missing_in_sample'] for r in reports):>5}",
                    f"{sum(r['closed'] for r in reports):>6}",
                    f"{join_s:>6.1f}",
                    f"{join_us:>7.0f}",
                    f"{per_viewer_kb:>7.1f}",
                ]
                print(" ".join(row), flush=True)
            for pipe in pipes:
                pipe.send("stop")
            for proc in procs:
                proc.join(10)
                if proc.is_alive():
                    proc.kill()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--viewers", default="1000,5000")
    parser.add_argument("--rates", default="50,200")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--tick-ms", default="5", help="the server's shortest tick; a list runs a server each"
    )
    parser.add_argument("--procs", type=int, default=2, help="viewer processes")
    parser.add_argument("--workers", type=int, default=1, help="server processes (live serve --workers)")
    args = parser.parse_args()

    redis = start_redis()
    try:
        print(
            f"machine: {os.cpu_count()} cores; server workers {args.workers}; permessage-deflate off; "
            f"uvicorn websockets-sansio, pre-built frames; {args.duration:.0f} s per row; "
            "deliv/CPU-s = deliveries per server CPU-second; join s = all viewers connected; "
            "µs/join = server CPU per join; KB/viewer = server RSS growth per idle viewer"
        )
        print(
            f"{'tick':>5} {'viewers':>8} {'posts/s':>8} {'sent':>6} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'max ms':>8} "
            f"{'deliv/s':>10} {'frames/s':>9} {'srv CPU%':>8} {'deliv/CPU-s':>12} {'lost':>5} {'closed':>6} "
            f"{'join s':>6} {'µs/join':>7} {'KB/vwr':>7}"
        )
        for tick_ms in [int(x) for x in args.tick_ms.split(",")]:
            run_tick(redis.url, tick_ms, args)
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
