"""The same chat load against the live server and against a minimal Socket.IO room, side by side.

    python bench/chat_compare.py [--viewers 300] [--rate 30] [--duration 15] [--ramp 3]
                                 [--sends-per-s 40000,10000]

For each side it starts a fresh redis-server (no persistence, loopback, a free
port; kit/procs.py's), the server (``live serve`` from the kit /
``node bench/socketio_peer/server.js`` with ``@socket.io/redis-adapter``), then
the load: ``python -m bots chat`` for ours, ``node bench/socketio_peer/bench.js``
for the peer (one viewer = one WebSocket, posts round robin over enough posters,
every post stamped with its send time).
It measures delivery latency at every viewer, deliveries a second, and the CPU
the server and its Redis used while the load ran (from /proc), then prints both.

``--sends-per-s``: one column of ours for each value of LIVE_SENDS_PER_S (the frames a
process may send a second, which sets how long the batching tick grows in a big room), so
the latency a longer tick costs and the CPU it saves are read off one run.

Needs ``npm install`` in bench/socketio_peer once (the npm registry). All traffic
stays on 127.0.0.1; every run is bounded by --duration plus fixed timeouts.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from kit.procs import LOAD_TEST_ENV, RedisProc, ServerProc  # noqa: E402

PEER = REPO / "bench" / "socketio_peer"
SECRET = "chat-compare-secret-0123456789-abcdef"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@contextlib.contextmanager
def live_server(redis_url: str, sends_per_s: int | None = None) -> Iterator[tuple[str, int]]:
    """Ours, from the process kit: `live serve` on the given Redis, without --dev."""
    env = dict(LOAD_TEST_ENV)
    if sends_per_s is not None:
        env["LIVE_SENDS_PER_S"] = str(sends_per_s)
    server = ServerProc(redis_url, "bench:", env, dev=False, secret=SECRET)
    try:
        yield server.url, server.proc.pid
    finally:
        server.cleanup()


@contextlib.contextmanager
def peer_server(redis_url: str) -> Iterator[tuple[str, int]]:
    """The Socket.IO peer (node), which prints 'listening on http://...' on its first line."""
    env = {**os.environ, "PORT": "0", "REDIS_URL": redis_url}
    with command_server(["node", "server.js"], env, PEER) as (url, proc):
        yield url, proc.pid


@contextlib.contextmanager
def command_server(
    cmd: list[str], env: dict[str, str], cwd: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start a server that prints 'listening on http://...' on its first line."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        match = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if not match:
            raise RuntimeError(f"{cmd[0]} did not start: {line}")
        # Keep draining its output so a chatty server never blocks on a full pipe.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield match.group(1), proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_client(
    cmd: list[str], cwd: Path, timeout_s: float
) -> tuple[subprocess.CompletedProcess[bytes], float]:
    """Run the load client; returns it and the CPU seconds it (and its children) used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout_s, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, cpu


def measure(start_server: Any, client_cmd_of: Any, cwd: Path, timeout_s: float) -> dict[str, Any]:
    # A fresh redis-server with no persistence, from the process kit.
    redis = RedisProc(appendonly=False).start()
    try:
        with start_server(redis.url) as (url, server_pid):
            time.sleep(0.5)
            s0, r0, t0 = cpu_seconds(server_pid), cpu_seconds(redis.pid), time.time()
            done, client_cpu = run_client(client_cmd_of(url), cwd, timeout_s)
            s1, r1, t1 = cpu_seconds(server_pid), cpu_seconds(redis.pid), time.time()
    finally:
        redis.stop()
    wall = t1 - t0
    return {
        "client": done,
        "wall_s": wall,
        "server_cpu_pct": 100 * (s1 - s0) / wall,
        "redis_cpu_pct": 100 * (r1 - r0) / wall,
        "client_cpu_pct": 100 * client_cpu / wall,
    }


def run_live(args: argparse.Namespace, sends_per_s: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "live.json"

        def client(url: str) -> list[str]:
            load = ["--viewers", str(args.viewers), "--rate", str(args.rate),
                    "--duration", str(args.duration), "--ramp", str(args.ramp)]  # fmt: skip
            cmd = [sys.executable, "-m", "bots", "chat", "--url", url, "--secret", SECRET,
                   "--quiet", "--no-html", *load, "--json", str(report_path)]  # fmt: skip
            return cmd + (["--procs", str(args.procs)] if args.procs else [])

        server = functools.partial(live_server, sends_per_s=sends_per_s)
        m = measure(server, client, REPO, args.duration + args.ramp + 90)
        if not report_path.exists():
            raise RuntimeError(f"the bots wrote no report:\n{m['client'].stdout.decode()[-2000:]}")
        report = json.loads(report_path.read_text())
    chat, conn, corr = report["chat"], report["connections"], report["correctness"]
    return {
        "viewers connected": conn["connected"],
        "posts sent / acked": f"{chat['sent']} / {chat['acked']}",
        "posts/s": chat["posts_per_s"],
        "deliveries": chat["deliveries"],
        "delivery ratio": chat["delivery_ratio"],
        "deliveries/s": chat["deliveries_per_s"],
        "delivery p50 ms": chat["delivery_ms"]["p50"],
        "delivery p99 ms": chat["delivery_ms"]["p99"],
        "delivery max ms": chat["delivery_ms"]["max"],
        "connect p50 ms": conn["connect_ms"]["p50"],
        "disconnects": conn["disconnects"],
        "frames/s received": report["traffic"]["frames_per_s"],
        "events per frame": report["traffic"]["events_per_frame"],
        "history events missed": corr["seq_missing_events"] + corr["tail_missing_events"],
        "server cpu % (1 core)": round(m["server_cpu_pct"], 1),
        "redis cpu %": round(m["redis_cpu_pct"], 1),
        "load client cpu %": round(m["client_cpu_pct"], 1),
        "exit code": m["client"].returncode,
    }


def run_socketio(args: argparse.Namespace) -> dict[str, Any]:
    if not (PEER / "node_modules" / "socket.io").exists():
        raise RuntimeError(f"run `npm install` in {PEER} first")

    def client(url: str) -> list[str]:
        return ["node", "bench.js", "--url", url, "--viewers", str(args.viewers), "--rate", str(args.rate),
                "--duration", str(args.duration), "--ramp", str(args.ramp)]  # fmt: skip

    m = measure(peer_server, client, PEER, args.duration + args.ramp + 90)
    done = m["client"]
    if done.returncode != 0:
        raise RuntimeError(f"bench.js failed:\n{done.stderr.decode()[-2000:]}")
    r = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return {
        "viewers connected": r["connected"],
        "posts sent / acked": f"{r['sent']} / {r['acked']}",
        "posts/s": r["posts_per_s"],
        "deliveries": r["deliveries"],
        "delivery ratio": r["delivery_ratio"],
        "deliveries/s": r["deliveries_per_s"],
        "delivery p50 ms": r["delivery_ms"]["p50"],
        "delivery p99 ms": r["delivery_ms"]["p99"],
        "delivery max ms": r["delivery_ms"]["max"],
        "connect p50 ms": r["connect_ms"]["p50"],
        "disconnects": r["disconnects"],
        "frames/s received": "-",
        "events per frame": 1,
        "history events missed": "-",
        "server cpu % (1 core)": round(m["server_cpu_pct"], 1),
        "redis cpu %": round(m["redis_cpu_pct"], 1),
        "load client cpu %": round(m["client_cpu_pct"], 1),
        "exit code": done.returncode,
    }


def live_column_name(sends_per_s: int | None) -> str:
    if sends_per_s is None:
        return "live (ours)"
    return f"live {sends_per_s // 1000}k sends/s" if sends_per_s else "live, no cap"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=300)
    parser.add_argument("--rate", type=float, default=30.0, help="chat posts a second, whole room")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--ramp", type=float, default=3.0)
    parser.add_argument(
        "--procs", type=int, help="bots worker processes for our side (default: the bots decide)"
    )
    parser.add_argument(
        "--sends-per-s",
        type=lambda text: [int(v) for v in text.split(",")],
        help="LIVE_SENDS_PER_S for our side, one column each (default: the server's default)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every column as JSON")
    args = parser.parse_args()
    if not 1 <= args.viewers <= 20_000 or not 0 < args.duration <= 600:
        parser.error("--viewers 1-20000 and --duration up to 600 s")

    load_before = os.getloadavg()[0]
    budgets = args.sends_per_s or [None]
    ours = {live_column_name(n): run_live(args, n) for n in budgets}
    columns = {**ours, "socket.io 4.8": run_socketio(args)}
    for side in columns.values():
        cores = side["server cpu % (1 core)"] / 100
        side["deliveries per server CPU-s"] = round(side["deliveries/s"] / cores) if cores else "-"
    theirs = columns["socket.io 4.8"]["deliveries per server CPU-s"]
    for side in columns.values():
        mine = side["deliveries per server CPU-s"]
        both = isinstance(mine, int) and isinstance(theirs, int) and theirs
        side["efficiency vs socket.io"] = round(mine / theirs, 2) if both else "-"
    title = (
        f"chat: {args.viewers} viewers, {args.rate:g} posts/s, {args.duration:g} s "
        f"(ramp {args.ramp:g} s), one room, 127.0.0.1, {os.cpu_count()} cores shared by everything; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(title)
    rows = list(next(iter(columns.values())))
    width = max(len(k) for k in rows)
    print(f"{'':<{width}}" + "".join(f"  {name:>18}" for name in columns))
    for key in rows:
        print(f"{key:<{width}}" + "".join(f"  {side[key]!s:>18}" for side in columns.values()))
    if args.json:
        Path(args.json).write_text(json.dumps({"title": title, "columns": columns}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
