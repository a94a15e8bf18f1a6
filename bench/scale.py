"""Scale-out figures: `live serve --workers N` for N in 1, 2, 4, and the time to be back after a kill.

    python bench/scale.py                      # chat and buying with 1, 2 and 4 processes
    python bench/scale.py --procs 1,2 --seconds 5
    python bench/scale.py --kill-only          # viewers of a killed worker: reconnect + resume time

Throughput: a fixed crowd of anonymous viewers watches one room while posters (each with
``--window`` chat posts in flight) post as fast as the server acks. Reported: chat posts acked
per second, chat events delivered to viewers per second, the ratio of each to one process, the
ack latency, and the CPU seconds per second (cores) of the server, Redis and the load
processes. The load runs in ``--load-procs`` separate processes on the same machine: on a
small machine it competes with the server for the same cores, which the CPU columns show.

Kill: ``--workers 2``, viewers that reconnect the way the player does (jittered backoff) and
resume with ``since``; one worker is killed with SIGKILL while a poster posts; reported: how
many viewers were cut, how long each took from the kill to its resumed ``hello`` and to its
first live event after it, and whether any viewer saw a gap or a duplicate seq.

Every process this script starts, it stops by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import platform
import random
import re
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench._harness import sale_pin  # noqa: E402
from kit.procs import LOAD_TEST_ENV, RedisProc, ServerProc  # noqa: E402

SECRET = "bench-scale-secret-0123456789-abcdefghij"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores) so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def token(name: str, sub: str, role: str = "viewer", room: str | None = None) -> str:
    from live.auth import make_token

    return make_token(SECRET, sub=sub, name=name, role=role, room=room, ttl_s=3600)


# Processes we start (and stop by pid): the process kit's


def start_redis() -> RedisProc:
    return RedisProc().start()


def start_server(redis_url: str, workers: int, prefix: str) -> ServerProc:
    # No per-user limits: a few poster connections stand for a crowd. The duplicate window is
    # short because each poster posts far faster than a person can (5 per 10 s by default), and
    # the per-user duplicate-check state grows with the posts inside the window.
    env = {
        **LOAD_TEST_ENV,
        "LIVE_CHAT_RATE_POSTS": "0",
        "LIVE_FRAMES_PER_S": "0",
        "LIVE_DUPLICATE_WINDOW_MS": "1000",
    }
    server = ServerProc(redis_url, prefix, env, dev=False, workers=workers, secret=SECRET)
    time.sleep(0.3)  # every worker through its lifespan startup
    return server


def connections_per_pid(port: int, pids: list[int]) -> list[int]:
    """How many established connections to ``port`` each process holds (the kernel's spread)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if int(parts[1].split(":")[1], 16) == port and parts[3] == "01":
                inodes.add(f"socket:[{parts[9]}]")
    counts = []
    for pid in pids:
        n = 0
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    n += os.readlink(f"/proc/{pid}/fd/{fd}") in inodes
        counts.append(n)
    return counts


def make_room(url: str, room: str, pin: bool = False) -> None:
    """The room, live; with ``pin``, a flash sale that cannot sell out during a run."""
    import httpx

    headers = {"Authorization": "Bearer " + token("Host", "host", "host", room)}
    assert httpx.put(f"{url}/api/rooms/{room}", json={"title": "Bench"}, headers=headers).status_code in (
        200,
        201,
    )
    assert httpx.post(f"{url}/api/rooms/{room}/start", headers=headers).status_code == 200
    if pin:
        assert httpx.post(f"{url}/api/rooms/{room}/pins", json=sale_pin(), headers=headers).status_code == 201


# The load processes


def load_main(cfg: dict[str, Any], ready: Any, go: Any, results: Any) -> None:
    import uvloop

    uvloop.install()
    results.put(asyncio.run(_load(cfg, ready, go)))


async def _load(cfg: dict[str, Any], ready: Any, go: Any) -> dict[str, Any]:
    import websockets

    ws_base = cfg["ws"] + "/ws/" + cfg["room"]
    buying = cfg["kind"] == "buy"
    stats: dict[str, Any] = {"deliveries": 0, "acks": 0, "errors": 0, "dropped": 0, "lat": []}
    window: list[float] = [0.0, 0.0]  # measure from, until (monotonic)

    def measuring() -> bool:
        return window[0] <= time.monotonic() < window[1]

    async def viewer(ws: Any) -> None:
        try:
            async for message in ws:
                if measuring():
                    stats["deliveries"] += message.count('"t":"chat"')
        except websockets.ConnectionClosed:
            pass
        if time.monotonic() < window[1]:
            stats["dropped"] += 1

    async def poster(ws: Any, name: str) -> None:
        sent: dict[str, float] = {}
        n = 0

        async def send() -> None:
            nonlocal n
            rid = f"{name}-{n}"
            n += 1
            sent[rid] = time.monotonic()
            if buying:
                await ws.send(f'{{"t":"buy","id":"{rid}","pin":"p1","qty":1}}')
            else:
                await ws.send(f'{{"t":"chat","id":"{rid}","text":"{name} says {n}"}}')

        for _ in range(cfg["window"]):
            await send()
        try:
            async for message in ws:
                if '"t":"ack"' not in message and '"t":"error"' not in message:
                    continue
                now = time.monotonic()
                for rid in re.findall(r'"id":"([^"]+)"', message):
                    started = sent.pop(rid, None)
                    if started is None:
                        continue
                    acked = f'"t":"ack","id":"{rid}"' in message
                    if measuring():
                        stats["acks" if acked else "errors"] += 1
                        if random.random() < 0.05:
                            stats["lat"].append(now - started)
                    if buying and not acked:
                        return  # its limit per user reached: a buyer that may buy no more
                    if now < window[1]:
                        await send()
        except websockets.ConnectionClosed:
            pass

    viewers = []
    for _ in range(cfg["viewers"]):
        ws = await websockets.connect(ws_base, compression=None, max_size=None, open_timeout=30)
        await ws.recv()  # hello
        viewers.append(ws)
    posters = []
    for i in range(cfg["posters"]):
        name = f"p{cfg['index']}x{i}"
        ws = await websockets.connect(
            f"{ws_base}?token={token(name, name)}", compression=None, max_size=None, open_timeout=30
        )
        await ws.recv()
        posters.append((ws, name))
    ready.release()
    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    window[0] = time.monotonic() + cfg["warmup"]
    window[1] = window[0] + cfg["seconds"]
    tasks = [asyncio.create_task(viewer(ws)) for ws in viewers]
    tasks += [asyncio.create_task(poster(ws, name)) for ws, name in posters]
    await asyncio.sleep(window[1] - time.monotonic() + 0.2)
    for ws in viewers + [ws for ws, _ in posters]:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 2)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stats["pid"] = os.getpid()
    return stats


def run_throughput(workers: int, args: argparse.Namespace, kind: str = "chat") -> dict[str, Any]:
    """One measurement: ``chat`` (posters post, viewers watch) or ``buy`` (buyers grab from a pin
    while the viewers watch); ``posts_per_s`` counts the acks either way."""
    redis = start_redis()
    server = start_server(redis.url, workers, f"bench{workers}:")
    ctx = mp.get_context("spawn")
    procs = []
    buying = kind == "buy"
    try:
        room = "bench"
        make_room(server.url, room, pin=buying)
        ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
        for i in range(args.load_procs):
            cfg = {
                "ws": server.url.replace("http://", "ws://"),
                "room": room,
                "index": i,
                "viewers": args.viewers // args.load_procs,
                "posters": (args.buyers if buying else args.posters) // args.load_procs,
                "window": 1 if buying else args.window,
                "kind": kind,
                "warmup": args.warmup,
                "seconds": args.seconds,
            }
            p = ctx.Process(target=load_main, args=(cfg, ready, go, results), daemon=True)
            p.start()
            procs.append(p)
        for _ in procs:
            if not ready.acquire(timeout=120):
                raise RuntimeError("load processes did not connect")
        spread = connections_per_pid(server.port, server.serving_pids())
        go.set()
        time.sleep(args.warmup)
        pids = server.serving_pids()
        loaders = [p.pid for p in procs if p.pid]
        cpu0 = {p: cpu_seconds(p) for p in [*pids, redis.pid, *loaders]}
        busy0 = machine_busy_seconds()
        t0 = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - t0
        busy1 = machine_busy_seconds()
        cpu1 = {p: cpu_seconds(p) for p in cpu0}
        outs = [results.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
        server.cleanup()
        redis.stop()
    lat = sorted(x for o in outs for x in o["lat"])
    return {
        "workers": workers,
        "kind": kind,
        "posts_per_s": sum(o["acks"] for o in outs) / args.seconds,
        "errors_per_s": sum(o["errors"] for o in outs) / args.seconds,
        "deliveries_per_s": sum(o["deliveries"] for o in outs) / args.seconds,
        "dropped": sum(o["dropped"] for o in outs),
        "ack_p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
        "ack_p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else None,
        "server_cores": sum(cpu1[p] - cpu0[p] for p in pids) / elapsed,
        "redis_cores": (cpu1[redis.pid] - cpu0[redis.pid]) / elapsed,
        "load_cores": sum(cpu1[p] - cpu0[p] for p in loaders) / elapsed,
        "other_cores": (busy1 - busy0 - sum(cpu1[p] - cpu0[p] for p in cpu0)) / elapsed,
        "spread": spread,
    }


# Kill: how long until the viewers of a killed worker are back


async def _resumer(ws_base: str, out: dict[str, Any], kill_at: Any) -> None:
    import orjson
    import websockets

    last_seq = 0
    since: int | None = None
    backoff = 0.1
    while not out["stop"]:
        url = ws_base + (f"?since={since}" if since is not None else "")
        try:
            ws = await websockets.connect(url, compression=None, max_size=None, open_timeout=5)
        except (OSError, websockets.WebSocketException):
            await asyncio.sleep(backoff * (0.5 + random.random()))  # jittered, like the player
            backoff = min(backoff * 2, 2.0)
            continue
        backoff = 0.1
        back_pending = since is not None
        try:
            async for message in ws:
                for ev in orjson.loads(message):
                    t = ev.get("t")
                    if t == "hello":
                        if since is None:
                            last_seq = ev["seq"]
                        else:
                            if not ev["resumed"]:
                                out["not_resumed"] += 1
                            out["hello_s"].append(time.time() - kill_at.value)
                        continue
                    seq = ev.get("seq")
                    if seq is None:
                        continue
                    if seq != last_seq + 1:
                        out["gaps"] += 1
                    last_seq = seq
                    if back_pending:
                        out["live_s"].append(time.time() - kill_at.value)
                        back_pending = False
        except websockets.ConnectionClosed:
            pass
        if out["stop"]:
            break
        out["cut"] += 1
        since = last_seq
        await asyncio.sleep(random.random() * 0.05)  # first retry almost at once, jittered
    out["last_seq"].append(last_seq)


def kill_main(cfg: dict[str, Any], ready: Any, kill_at: Any, stop: Any, results: Any) -> None:
    import uvloop

    uvloop.install()

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {
            "stop": False,
            "cut": 0,
            "gaps": 0,
            "not_resumed": 0,
            "hello_s": [],
            "live_s": [],
            "last_seq": [],
        }
        tasks = [asyncio.create_task(_resumer(cfg["ws"], out, kill_at)) for _ in range(cfg["viewers"])]
        await asyncio.sleep(2)
        ready.release()
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        await asyncio.sleep(1.0)  # the last posts reach everyone
        out["stop"] = True
        await asyncio.wait(tasks, timeout=5)
        for t in tasks:
            t.cancel()
        return out

    results.put(asyncio.run(main()))


def run_kill(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    redis = start_redis()
    server = start_server(redis.url, 2, "benchkill:")
    ctx = mp.get_context("spawn")
    procs = []
    try:
        room = "killroom"
        make_room(server.url, room)
        ready, stop, results, kill_at = ctx.Semaphore(0), ctx.Event(), ctx.Queue(), ctx.Value("d", 0.0)
        ws = server.url.replace("http://", "ws://") + f"/ws/{room}"
        for _ in range(args.load_procs):
            cfg = {"ws": ws, "viewers": args.kill_viewers // args.load_procs}
            p = ctx.Process(target=kill_main, args=(cfg, ready, kill_at, stop, results), daemon=True)
            p.start()
            procs.append(p)
        for _ in procs:
            if not ready.acquire(timeout=120):
                raise RuntimeError("viewers did not connect")
        pids = server.serving_pids()
        spread = connections_per_pid(server.port, pids)
        victim = pids[spread.index(max(spread))]  # the worker with the most viewers

        async def post_and_kill() -> int:
            import websockets

            name = "killposter"
            last = 0
            i = 0
            total = int(args.kill_seconds * 50)
            while i < total:
                try:
                    async with websockets.connect(
                        f"{ws}?token={token(name, name)}", compression=None
                    ) as poster:
                        await poster.recv()
                        while i < total:
                            if i == 50:
                                kill_at.value = time.time()
                                os.kill(victim, signal.SIGKILL)
                            await poster.send(f'{{"t":"chat","id":"k{i}","text":"tick {i}"}}')
                            while True:
                                msg = str(await asyncio.wait_for(poster.recv(), 10))
                                found = re.search(rf'"t":"ack","id":"k{i}","seq":(\d+)', msg)
                                if found:
                                    last = int(found.group(1))
                                    break
                            i += 1
                            await asyncio.sleep(0.02)
                except (OSError, websockets.WebSocketException):
                    i += 1  # the poster was on the victim: reconnect and go on (that post may be lost)
                    await asyncio.sleep(0.05)
            return last

        ours = [*pids, redis.pid, *(p.pid for p in procs if p.pid)]
        cpu0 = {p: cpu_seconds(p) for p in ours}
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        last = asyncio.run(post_and_kill())
        mine = sum(cpu_seconds(p) - cpu0[p] for p in ours if os.path.exists(f"/proc/{p}"))
        mine += sum(cpu_seconds(p) for p in server.serving_pids() if p not in pids)  # the restarted worker
        others = (machine_busy_seconds() - busy0 - mine) / (time.monotonic() - t0)
        stop.set()
        outs = [results.get(timeout=60) for _ in procs]
        restarted = "killed by SIGKILL" in server.output()
        healthy = httpx.get(server.url + "/healthz", timeout=5).status_code
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
        server.cleanup()
        redis.stop()
    hello = sorted(x for o in outs for x in o["hello_s"])
    live = sorted(x for o in outs for x in o["live_s"])

    def pct(xs: list[float], q: float) -> float | None:
        return round(1000 * xs[min(len(xs) - 1, int(len(xs) * q))]) if xs else None

    return {
        "viewers": args.kill_viewers,
        "spread_before": spread,
        "cut": sum(o["cut"] for o in outs),
        "hello_ms_p50": pct(hello, 0.5),
        "hello_ms_p95": pct(hello, 0.95),
        "hello_ms_max": pct(hello, 1.0),
        "live_ms_p50": pct(live, 0.5),
        "live_ms_p95": pct(live, 0.95),
        "live_ms_max": pct(live, 1.0),
        "gaps_or_duplicates": sum(o["gaps"] for o in outs),
        "not_resumed": sum(o["not_resumed"] for o in outs),
        "all_at_last_seq": all(s >= last for o in outs for s in o["last_seq"]),
        "last_seq": last,
        "worker_restarted": restarted,
        "others_cores": round(others, 2),
        "healthz_after": healthy,
    }


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        model = found.group(1).strip() if found else ""
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, Python {platform.python_version()}, "
        f"load average {load:.1f} at start"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", default="1,2,4", help="worker counts to measure")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds over --procs (the summary takes medians)"
    )
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--posters", type=int, default=64)
    parser.add_argument("--window", type=int, default=2, help="chat posts in flight per poster")
    parser.add_argument(
        "--buyers", type=int, default=400, help="buyers in the buy runs (1 grab in flight each)"
    )
    parser.add_argument("--kinds", default="chat,buy", help="chat, buy or both")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--load-procs", type=int, default=2)
    parser.add_argument(
        "--max-others",
        type=float,
        default=2.0,
        help="measure again when other programs used more cores than this (shared machines)",
    )
    parser.add_argument("--tries", type=int, default=5, help="measurements per figure at most (--max-others)")
    parser.add_argument("--kill-viewers", type=int, default=200)
    parser.add_argument("--kill-seconds", type=float, default=4.0)
    parser.add_argument("--kill-repeat", type=int, default=1)
    parser.add_argument("--kill-only", action="store_true")
    parser.add_argument("--no-kill", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if not args.kill_only:
        throughput(args)
    if not args.no_kill:
        for i in range(args.kill_repeat):
            r = run_kill(args)
            print(f"kill one of 2 workers (SIGKILL), viewers reconnect + resume (round {i + 1}):")
            for k, v in r.items():
                print(f"  {k}: {v}")
    return 0


def throughput(args: argparse.Namespace) -> None:
    print(
        f"throughput: {args.viewers} viewers; chat: {args.posters} posters x {args.window} in flight; "
        f"buy: {args.buyers} buyers x 1 in flight on one pin; "
        f"{args.seconds:.0f} s after {args.warmup:.0f} s warm-up, load in {args.load_procs} processes; "
        "per CPU-s = per second of the server processes' CPU (all workers)"
    )
    header = (
        "round",
        "kind",
        "procs",
        "acks/s",
        "deliveries/s",
        "ack p50 ms",
        "ack p99 ms",
        "server cores",
        "per CPU-s",
        "redis cores",
        "load cores",
        "others' cores",
        "viewers per worker",
        "dropped",
        "errors/s",
    )
    print(" | ".join(header))
    counts = [int(x) for x in args.procs.split(",")]
    kinds = args.kinds.split(",")
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {(k, n): [] for k in kinds for n in counts}
    discarded = 0
    for round_ in range(args.repeat):
        for kind in kinds:
            for n in counts:
                for _attempt in range(args.tries):
                    r = run_throughput(n, args, kind)
                    if r["other_cores"] <= args.max_others:
                        break
                    discarded += 1  # other programs took the cores meanwhile: measure again
                    print(
                        f"  (discarded: {kind}, procs {n}, {r['posts_per_s']:.0f} acks/s, others' cores "
                        f"{r['other_cores']:.2f})",
                        flush=True,
                    )
                runs[(kind, n)].append(r)
                row = (
                    round_ + 1,
                    kind,
                    n,
                    round(r["posts_per_s"]),
                    round(r["deliveries_per_s"]),
                    _r(r["ack_p50_ms"]),
                    _r(r["ack_p99_ms"]),
                    f"{r['server_cores']:.2f}",
                    round(_per_cpu(r)),
                    f"{r['redis_cores']:.2f}",
                    f"{r['load_cores']:.2f}",
                    f"{r['other_cores']:.2f}",
                    r["spread"],
                    r["dropped"],
                    round(r["errors_per_s"]),
                )
                print(" | ".join(str(x) for x in row), flush=True)
    if discarded:
        print(f"{discarded} runs discarded: other programs used more than {args.max_others} cores")
    print(
        "median over rounds | kind | procs | acks/s | x1 | deliveries/s | x1 | server cores "
        "| per CPU-s (deliveries for chat, grabs for buy) | x1"
    )
    for kind in kinds:
        base = {
            k: statistics.median(f(r) for r in runs[(kind, counts[0])])
            for k, f in (("acks", _acks), ("deliveries", _deliveries), ("per_cpu", _per_cpu))
        }
        for n in counts:
            acks = statistics.median(_acks(r) for r in runs[(kind, n)])
            deliveries = statistics.median(_deliveries(r) for r in runs[(kind, n)])
            cores = statistics.median(r["server_cores"] for r in runs[(kind, n)])
            per_cpu = statistics.median(_per_cpu(r) for r in runs[(kind, n)])
            print(
                f"  | {kind} | {n} | {acks:.0f} | {acks / base['acks']:.2f} | {deliveries:.0f} | "
                f"{deliveries / base['deliveries'] if base['deliveries'] else 0:.2f} | {cores:.2f} | "
                f"{per_cpu:.0f} | {per_cpu / base['per_cpu']:.2f}"
            )


def _acks(r: dict[str, Any]) -> float:
    return float(r["posts_per_s"])


def _deliveries(r: dict[str, Any]) -> float:
    return float(r["deliveries_per_s"])


def _per_cpu(r: dict[str, Any]) -> float:
    """Deliveries (chat) or grabs (buy) per second of server CPU."""
    done = r["deliveries_per_s"] if r["kind"] == "chat" else r["posts_per_s"]
    return float(done / r["server_cores"]) if r["server_cores"] else 0.0


def _r(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


if __name__ == "__main__":
    raise SystemExit(main())
