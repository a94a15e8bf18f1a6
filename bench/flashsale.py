"""Flash-sale grabs: buys per second and ack latency end to end over WebSockets, beside the
ceiling: the same Lua buy script driven straight at Redis by redis-benchmark, in one run.

Each configuration runs twice, alternating: as in v1 (orders confirmed at once, no webhooks), and
with the payment hand-off (issue 12): the room's ``pay_within_s`` > 0, so every grab is a reserved
order with an expiry, and a webhook receiver attached (``LIVE_WEBHOOK_URL``), so every grab also
writes an ``order.reserved`` event to the outbox that the server delivers while the sale runs.
The last column is the hand-off's grab throughput over the plain one's.

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
from bench._harness import (
    RawClient,
    RedisProc,
    cpu_seconds,
    open_client,
    percentile,
    run,
    sale_pin,
    start_redis,
    start_server,
    token,
)
from live.keys import RoomKeys, me_channel

ROOM = "bench-sale"
LUA = Path(__file__).resolve().parent.parent / "live" / "lua"
HOOK_SECRET = "bench-webhook-secret"
PAY_WITHIN_S = 600  # longer than any run: the hand-off rows measure reserving and telling, not expiry

# A webhook receiver in its own process (stdlib asyncio): answers every POST 200 and counts them.
RECEIVER = r"""
import asyncio, sys
count = 0
async def handle(reader, writer):
    global count
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            count += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # until the bench closes stdin
    print(count, flush=True)
asyncio.run(main())
"""


class Receiver:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RECEIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}/hooks"

    def stop(self) -> int:
        """End it; the number of events it received."""
        out, _ = self.proc.communicate("\n", timeout=30)
        return int(out.strip() or 0)


def buyer_process(url: str, first: int, count: int, duration: float, conn: mp.connection.Connection) -> None:
    conn.send(run(_buyers(url, first, count, duration, conn)))


async def _buyers(
    url: str, first: int, count: int, duration: float, conn: mp.connection.Connection
) -> dict[str, object]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sem = asyncio.Semaphore(200)
    waiting: dict[bytes, asyncio.Future[bytes]] = {}  # request id -> its answer's frame

    def on_text(payload: bytes) -> None:
        # Only frames that answer a request matter; a cheap search finds them without parsing.
        at = payload.find(b'"id":"')
        if at >= 0:
            rid = payload[at + 6 : payload.index(b'"', at + 6)]
            future = waiting.pop(rid, None)
            if future is not None and not future.done():
                future.set_result(payload)

    buyers = []

    async def open_one(i: int) -> None:
        async with sem:
            path = f"/ws/{ROOM}?token={token(f'b{first + i}')}"
            buyers.append(await open_client(host, int(port), path, on_text, first + i))

    await asyncio.gather(*(open_one(i) for i in range(count)))
    # Every process connected before anyone buys: the server's CPU is measured over buying alone.
    conn.send("ready")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)
    latencies: list[float] = []
    codes: dict[str, int] = {}
    units = 0
    stop_at = time.monotonic() + duration

    async def shop(n: int, buyer: RawClient) -> None:
        nonlocal units
        k = 0
        while time.monotonic() < stop_at and not buyer.closed:
            rid = f"b{first + n}r{k}".encode()
            future = loop.create_future()
            waiting[rid] = future
            sent = time.perf_counter()
            buyer.send_text(b'{"t":"buy","id":"' + rid + b'","pin":"p1","qty":1}')
            answer = await future
            latencies.append((time.perf_counter() - sent) * 1000)
            event = next(e for e in orjson.loads(answer) if e.get("id") == rid.decode())
            if event["t"] == "ack":
                units += 1
            else:
                codes[event["code"]] = codes.get(event["code"], 0) + 1
            k += 1

    await asyncio.gather(*(shop(n, b) for n, b in enumerate(buyers)))
    for buyer in buyers:
        buyer.close()
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
    key_list = keys.sale_keys()
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
            # The ARGV head of the sale scripts (RoomStore.sale_head): now maxlen hooks room me.
            str(now),
            "2000",
            "0",
            "ceiling",
            me_channel("live:"),
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


MODES = ("plain", "reserve", "handoff")


def end_to_end(redis: RedisProc, buyers: int, duration: float, procs: int, mode: str) -> dict[str, float]:
    """One row: ``plain`` (v1), ``reserve`` (pay_within_s only: which part of the hand-off costs
    what) or ``handoff`` (pay_within_s and a webhook receiver)."""
    redis.client().flushall()  # each row starts from an empty room (and an empty outbox)
    receiver = Receiver() if mode == "handoff" else None
    env = {"LIVE_FRAMES_PER_S": "0"}
    if receiver is not None:
        env |= {"LIVE_WEBHOOK_URL": receiver.url, "LIVE_WEBHOOK_SECRET": HOOK_SECRET}
    server = start_server(redis.url, env=env)
    result: dict[str, float] = {}
    try:
        headers = {"Authorization": f"Bearer {token('bench-host', 'host', ROOM)}"}
        room = {"title": "sale bench", "pay_within_s": 0 if mode == "plain" else PAY_WITHIN_S}
        httpx.put(f"{server.url}/api/rooms/{ROOM}", json=room, headers=headers)
        httpx.post(f"{server.url}/api/rooms/{ROOM}/start", headers=headers)
        r = httpx.post(
            f"{server.url}/api/rooms/{ROOM}/pins",
            headers=headers,
            json=sale_pin(),
        )
        assert r.status_code == 201, r.text
        pipes, workers = [], []
        per = buyers // procs
        for p in range(procs):
            parent, child = mp.Pipe()
            w = mp.Process(target=buyer_process, args=(server.url, p * per, per, duration, child))
            w.start()
            pipes.append(parent)
            workers.append(w)
        for pipe in pipes:
            assert pipe.recv() == "ready"
        cpu0 = cpu_seconds(server.proc.pid)
        t0 = time.monotonic()
        for pipe in pipes:
            pipe.send("go")
        results = [pipe.recv() for pipe in pipes]
        cpu = cpu_seconds(server.proc.pid) - cpu0
        wall = time.monotonic() - t0
        for w in workers:
            w.join()
        lat = [x for r in results for x in r["latencies"]]
        units = sum(r["units"] for r in results)
        room_stats = httpx.get(f"{server.url}/api/rooms/{ROOM}/stats", headers=headers).json()
        orders = room_stats["units"]
        drain_s = 0.0
        if receiver is not None:
            # Deliveries stepped aside while the sale held the process (live/loop_load.py): how long
            # the outbox takes to empty once buying stops.
            client = redis.client()
            [outbox] = client.keys(f"*{{room:{ROOM}}}:hooks") or [b""]
            t_sale_end = time.monotonic()
            while outbox and client.hlen(outbox) and time.monotonic() - t_sale_end < 300:
                time.sleep(0.25)
            drain_s = time.monotonic() - t_sale_end
        result = {
            "drain_s": drain_s,
            "reserved": room_stats["orders_by_state"]["reserved"],
            "grabs_per_s": len(lat) / duration,
            "p50": percentile(lat, 50),
            "p99": percentile(lat, 99),
            "units_acked": units,
            "units_recorded": orders,
            "errors": sum(sum(r["codes"].values()) for r in results),
            "server_cpu_pct": 100 * cpu / wall,
            "us_per_grab": 1e6 * cpu / max(1, len(lat)),
        }
    finally:
        server.stop()
        result["hooked"] = receiver.stop() if receiver is not None else 0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buyers", default="1000,5000")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--fsync", default="always,everysec")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=1, help="plain / reserve / hand-off rounds per configuration"
    )
    parser.add_argument("--modes", default=",".join(MODES), help="which of plain, reserve, handoff to run")
    args = parser.parse_args()
    print(
        "machine: 2 shared cores; one `live serve` process; buyers in separate processes, each buying one "
        "unit at a time for the duration; ceiling = redis-benchmark EVALSHA of the same buy script "
        f"(50 clients); mode plain = v1 (confirmed at once, no webhooks), handoff = pay_within_s "
        f"{PAY_WITHIN_S} + a webhook receiver (every grab is a reserved order and an order.reserved event), "
        "reserve = pay_within_s alone; hooks = events the receiver got; "
        "drain s = time for the outbox to empty after the sale"
    )
    print(
        f"{'fsync':>9} {'buyers':>7} {'mode':>8} {'grabs/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'srv CPU%':>8} "
        f"{'us/grab':>7} "
        f"{'ceiling P1':>10} {'ceiling P16':>11} {'ratio P1':>8} {'lost':>5} {'reserved':>8} {'hooks':>7} "
        f"{'vs plain':>8} {'drain s':>7}"
    )
    ratios: list[tuple[str, int, float]] = []
    for fsync in args.fsync.split(","):
        for buyers in [int(x) for x in args.buyers.split(",")]:
            redis = start_redis(appendfsync=fsync)
            try:
                ceiling1 = redis_ceiling(redis, pipeline=1)
                ceiling16 = redis_ceiling(redis, pipeline=16)
                for _ in range(args.rounds):
                    plain = 0.0
                    for mode in args.modes.split(","):
                        e2e = end_to_end(redis, buyers, args.duration, args.procs, mode)
                        lost = max(0, e2e["units_acked"] - e2e["units_recorded"])  # acked but not recorded
                        handoff = mode != "plain"
                        if mode == "handoff" and plain:
                            ratios.append((fsync, buyers, e2e["grabs_per_s"] / plain))
                        elif mode == "plain":
                            plain = e2e["grabs_per_s"]
                        print(
                            f"{fsync:>9} {buyers:>7} {mode:>8} "
                            f"{e2e['grabs_per_s']:>9.0f} {e2e['p50']:>7.1f} {e2e['p99']:>7.1f} "
                            f"{e2e['server_cpu_pct']:>8.0f} {e2e['us_per_grab']:>7.0f} "
                            f"{ceiling1:>10.0f} {ceiling16:>11.0f} "
                            f"{e2e['grabs_per_s'] / ceiling1:>8.2f} {lost:>5} {e2e['reserved']:>8.0f} "
                            f"{e2e['hooked']:>7.0f} "
                            + (f"{e2e['grabs_per_s'] / plain:>8.2f}" if handoff and plain else f"{'':>8}")
                            + (f" {e2e['drain_s']:>7.1f}" if mode == "handoff" else ""),
                            flush=True,
                        )
            finally:
                redis.stop()
    for fsync, buyers, ratio in ratios:
        verdict = "meets" if ratio >= 0.9 else "MISSES"
        print(
            f"hand-off / plain grabs, fsync {fsync}, {buyers} buyers: {ratio:.2f} ({verdict} the 0.90 target)"
        )


if __name__ == "__main__":
    main()
