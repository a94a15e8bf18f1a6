"""How long `live serve` takes to drain on SIGTERM with many viewers connected, and what they are told.

    python bench/drain.py                       # 5,000 viewers, bundled Redis, 3 runs
    python bench/drain.py --viewers 1000 --workers 2 --runs 5

Each run starts `live serve` (with its bundled Redis unless --redis), connects ``--viewers`` raw
WebSocket viewers to one live room from this process (kit/crowd.py), sends SIGTERM, and reports
the time until every viewer had its close frame, the time until the process exited, its exit
code and the close codes seen (1012 = service restart: reconnect elsewhere and resume).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from kit.crowd import open_viewers  # noqa: E402
from kit.procs import RedisProc, ServerProc  # noqa: E402


def make_room(server: ServerProc, room: str) -> None:
    headers = {"Authorization": "Bearer " + server.token("host", room, name="Host", sub="host")}
    assert httpx.put(f"{server.url}/api/rooms/{room}", json={"title": "Drain"}, headers=headers).is_success
    assert httpx.post(f"{server.url}/api/rooms/{room}/start", headers=headers).is_success


async def one_run(viewers_n: int, workers: int, redis_url: str | None) -> dict[str, object]:
    server = ServerProc(redis_url, "drain:", env={"LIVE_MAX_CONNS_PER_IP": "0"}, dev=False, workers=workers)
    try:
        make_room(server, "drain")
        viewers = await open_viewers(server.host, server.port, "/ws/drain", viewers_n)
        await asyncio.sleep(1.0)  # the hub has them all, the first frames are out
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        exited = loop.run_in_executor(None, server.proc.wait, 60)
        await asyncio.wait_for(asyncio.gather(*(v.lost for v in viewers)), 60)
        all_closed_s = time.monotonic() - started
        code = await exited
        exit_s = time.monotonic() - started
        codes = collections.Counter(v.code for v in viewers)
        for v in viewers:
            v.close()
        return {"closed_s": all_closed_s, "exit_s": exit_s, "exit_code": code, "codes": dict(codes)}
    finally:
        server.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--redis", action="store_true", help="a separate redis-server instead of the bundled one"
    )
    args = parser.parse_args()
    redis = RedisProc().start() if args.redis else None
    try:
        for i in range(args.runs):
            result = asyncio.run(one_run(args.viewers, args.workers, redis.url if redis else None))
            print(
                f"run {i + 1}: {args.viewers} viewers, {args.workers} worker(s): every viewer closed after "
                f"{result['closed_s']:.2f} s, exit {result['exit_code']} after {result['exit_s']:.2f} s, "
                f"close codes {result['codes']}",
                flush=True,
            )
    finally:
        if redis is not None:
            redis.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
