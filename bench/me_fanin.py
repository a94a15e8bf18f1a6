"""What the personal channel (/ws/me) costs a process during a flash sale: nothing, where nobody listens.

    python bench/me_fanin.py                     # 50,000 orders over 5,000 buyers, 10 of them listening
    python bench/me_fanin.py --orders 200000 --buyers 20000 --listeners 50

Starts its own redis-server and two `live serve` processes on it: A with no /ws/me socket, B with
one socket for each of ``--listeners`` buyers. Then it PUBLISHes ``--orders`` order messages, as
the Lua scripts do for every grab (one per order on its buyer's channel ``{prefix}me:<user>``),
round robin over ``--buyers`` buyers, pipelined, and reports:

- each process's Pub/Sub connection (CLIENT LIST name ``live-me``) and how many channels it is
  subscribed to, and ``PUBSUB NUMSUB`` of every buyer's channel: A is subscribed to nothing, so
  Redis drops the messages of A's buyers at once;
- the CPU each process used during the publishing (A: its idle loop, whatever the order rate);
- the messages the listeners received (each of their orders, exactly once).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import orjson
import redis.asyncio as aioredis
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._harness import cpu_seconds, run, start_redis, start_server, token
from live.keys import me_channel
from live.me_feed import CLIENT_NAME

PREFIX = "live:"  # bench/_harness.py start_server's key prefix
BATCH = 500


def order(user: str, n: int) -> bytes:
    """An order message as the scripts publish it (its size is what matters here)."""
    return orjson.dumps(
        {
            "id": f"o-{n}",
            "room": "sale",
            "pin": "p1",
            "product": None,
            "user": user,
            "qty": 1,
            "unit_price_cents": 2500,
            "total_cents": 2500,
            "tier": 0,
            "ts_ms": 1_700_000_000_000 + n,
            "state": "reserved",
            "pay_by_ms": 1_700_000_060_000 + n,
            "version": 1,
            "name": user,
            "refund_cents": 0,
        }
    )


async def listen(url: str, user: str, heard: dict[str, int], opened: asyncio.Future[None]) -> None:
    async with websockets.connect(f"{url}/ws/me?token={token(user)}", compression=None) as ws:
        opened.set_result(None)  # open = subscribed (the server confirms before the handshake)
        async for frame in ws:
            heard[user] += sum(1 for e in orjson.loads(frame) if e.get("t") == "order")


async def bench(orders: int, buyers: int, listeners: int) -> None:
    redis_proc = start_redis()
    a = start_server(redis_proc.url)
    b = start_server(redis_proc.url)
    redis = aioredis.Redis.from_url(redis_proc.url, decode_responses=True)
    users = [f"buyer{i}" for i in range(buyers)]
    listening = users[:listeners]
    heard = dict.fromkeys(listening, 0)
    tasks: list[asyncio.Task[None]] = []
    try:
        for user in listening:
            opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            tasks.append(asyncio.create_task(listen(b.ws_url, user, heard, opened)))
            await asyncio.wait_for(opened, 30)
        await asyncio.sleep(1.0)  # both processes settled
        cpu_before = [cpu_seconds(s.proc.pid) for s in (a, b)]
        started = time.monotonic()
        for first in range(0, orders, BATCH):
            pipe = redis.pipeline(transaction=False)
            for n in range(first, min(first + BATCH, orders)):
                user = users[n % buyers]
                pipe.publish(me_channel(PREFIX, user), order(user, n))
            await pipe.execute()
        publish_s = time.monotonic() - started
        expected = {u: len(range(i, orders, buyers)) for i, u in enumerate(listening)}
        deadline = time.monotonic() + 30
        while heard != expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        cpu = [cpu_seconds(s.proc.pid) - before for s, before in zip((a, b), cpu_before, strict=True)]

        feeds = [c for c in await redis.client_list() if c["name"] == CLIENT_NAME]
        numsub = dict(await redis.pubsub_numsub(*(me_channel(PREFIX, u) for u in users)))
        subscribed = {u for u in users if numsub[me_channel(PREFIX, u)]}
        print(f"{orders} orders over {buyers} buyers in {publish_s:.2f} s ({orders / publish_s:,.0f}/s)")
        print(f"Pub/Sub connections named {CLIENT_NAME}: " + ", ".join(f"sub={c['sub']}" for c in feeds))
        print(f"buyers' channels with a subscriber (PUBSUB NUMSUB > 0): {len(subscribed)} = the listeners")
        for name, used in (("A (no /ws/me)", cpu[0]), (f"B ({listeners} /ws/me)", cpu[1])):
            # All of it, the idle loop included: divided by the orders, an upper bound per order.
            per_order_us = used / orders * 1e6
            print(
                f"process {name}: CPU {used * 1000:.0f} ms during the run, <= {per_order_us:.2f} µs per order"
            )
        got = sum(heard.values())
        print(f"listeners heard {got} of {sum(expected.values())} orders meant for them")
        assert subscribed == set(listening), subscribed ^ set(listening)
        assert heard == expected, "a listener missed or doubled an order"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await redis.aclose()
        for server in (a, b):
            server.stop()
        redis_proc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--buyers", type=int, default=5_000)
    parser.add_argument("--listeners", type=int, default=10)
    args = parser.parse_args()
    run(bench(args.orders, args.buyers, args.listeners))
    return 0


if __name__ == "__main__":
    sys.exit(main())
