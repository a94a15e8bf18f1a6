"""The personal channel ``/ws/me`` (contract §8), against real servers and a real Redis.

These tests publish on a user's channel ``{prefix}me:<user>`` themselves, as the Lua scripts do;
tests/live/test_me_e2e.py lets real buys and state changes publish. The feed's bookkeeping is
tested on its own in test_me_subs.py, and the feed against Redis in test_me_feed.py.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
import websockets

from live.auth import make_token
from live.keys import me_channel
from live.me import MAX_SOCKETS_PER_USER
from live.me_feed import LINGER_S, POLL_S
from tests.live.me_kit import connect_me, numsub, open_me, order, publish, publish_raw, until_numsub
from tests.support import SECRET, Client, RedisProc, ServerProc


@pytest.fixture
def own_redis() -> Iterator[RedisProc]:
    """A redis-server of this test's own, to kill and restart (torn down after the servers)."""
    proc = RedisProc().start()
    yield proc
    proc.stop()


def _orders(client_events: list[dict[str, object]]) -> list[object]:
    return [e["order"] for e in client_events if e.get("t") == "order"]


async def _metrics(url: str) -> str:
    async with httpx.AsyncClient() as http:
        return (await http.get(url + "/metrics", timeout=5)).text


async def until_metric(server: ServerProc, line: str) -> None:
    for _ in range(150):
        if line in (metrics := await _metrics(server.url)).splitlines():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {line!r} in {metrics}")


BAD_TOKENS = {
    "missing": None,
    "empty": "",
    "garbage": "not-a-jwt",
    "other-secret": make_token(
        "another-secret-0123456789-abcdefghij", sub="alice", name="Alice", role="viewer"
    ),
    "expired": make_token(SECRET, sub="alice", name="Alice", role="viewer", ttl_s=-60),
}


async def test_without_a_valid_token_one_unauthorized_error_then_4001(live_server: ServerProc) -> None:
    for what, token in BAD_TOKENS.items():
        client = await connect_me(live_server, token)
        assert await client.closed() == 4001, what
        assert [(e["t"], e["code"]) for e in client.events] == [("error", "unauthorized")], what
    # The same user with a valid token is let in: the refusals were about the token.
    client = await open_me(live_server, live_server.token(name="Alice", sub="alice"))
    await client.close()


async def test_ping_is_answered_and_bad_frames_get_bad_request_without_a_close(
    live_server: ServerProc,
) -> None:
    client = await open_me(live_server, live_server.token(name="Alice", sub="alice"))
    bad = [
        "not json",
        "[1, 2]",
        '"ping"',
        "{}",
        '{"t": "PING"}',
        '{"t": "chat", "id": "c1", "text": "hi"}',
        '{"t": "buy", "id": "b-1", "pin": "p1", "qty": 1}',
        b"\x00\x01binary",
    ]
    for frame in bad:
        await client.send(frame)
        error = await client.next_of("error")
        assert error["code"] == "bad_request", (frame, error)
    # A request id is echoed where the frame carried a well-formed one.
    ids = [e.get("id") for e in client.events if e.get("t") == "error"]
    assert ids == [None, None, None, None, None, "c1", "b-1", None]
    await client.send({"t": "ping"})
    await client.next_of("pong")
    assert client.closed_code is None
    await client.close()


async def test_an_order_reaches_every_tab_of_its_user_on_every_process_and_nobody_else(
    start_server: Callable[..., ServerProc],
) -> None:
    a, b = start_server(), start_server()
    alice_on_a = await open_me(a, a.token(name="Alice", sub="alice"))
    alice_on_b = await open_me(b, b.token(name="Alice", sub="alice"))
    alice_again_on_b = await open_me(b, b.token(name="Alice", sub="alice"))
    bob_on_a = await open_me(a, a.token(name="Bob", sub="bob"))
    body = order("alice", "o-1", refund_cents=0)
    assert await publish(a.redis_url, a.prefix, "alice", body) == 2  # one subscriber per process
    for tab in (alice_on_a, alice_on_b, alice_again_on_b):
        event = await tab.next_of("order")
        assert event["order"] == body
    # Bob's first order event is his own: Alice's never reached him.
    bob_body = order("bob", "o-2", refund_cents=0)
    await publish(a.redis_url, a.prefix, "bob", bob_body)
    await bob_on_a.next_of("order")
    assert _orders(bob_on_a.events) == [bob_body]
    # One frame per message, as JSON arrays; the order JSON is handed on byte for byte.
    assert all(_orders(tab.events) == [body] for tab in (alice_on_a, alice_on_b, alice_again_on_b))
    for client in (alice_on_a, alice_on_b, alice_again_on_b, bob_on_a):
        await client.close()


async def test_a_message_that_is_not_an_order_object_is_dropped(live_server: ServerProc) -> None:
    alice = await open_me(live_server, live_server.token(name="Alice", sub="alice"))
    junk: list[str | bytes] = ["", "not json", "[1]", "{x}", '"text"', b"{\xff}", b'{"a":"\xff"}']
    for message in junk:
        assert await publish_raw(live_server.redis_url, live_server.prefix, "alice", message) == 1
    body = order("alice", "o-after")
    await publish(live_server.redis_url, live_server.prefix, "alice", body)
    await alice.next_of("order")
    assert _orders(alice.events) == [body]
    await alice.close()


async def test_the_subscriber_survives_a_redis_restart(
    own_redis: RedisProc, start_server: Callable[..., ServerProc]
) -> None:
    server = start_server(redis_url=own_redis.url)
    token = server.token(name="Alice", sub="alice")
    alice = await open_me(server, token)
    own_redis.kill()
    # What Pub/Sub would have carried meanwhile is gone: the socket says so and closes (1011).
    assert await alice.closed(timeout=15) == 1011
    assert [e.get("code") for e in alice.events if e.get("t") == "error"] == ["unavailable"]
    # Until the subscriber is back, a new socket is refused the same way.
    refused = await connect_me(server, token)
    assert await refused.closed(timeout=15) == 1011
    assert refused.events[0]["code"] == "unavailable"
    own_redis.start()
    again = await open_me(server, token, timeout=30)
    body = order("alice", "o-after-restart")
    await publish(own_redis.url, server.prefix, "alice", body)
    assert (await again.next_of("order"))["order"] == body
    await again.close()


async def test_a_socket_that_never_reads_is_cut_off_and_the_others_get_everything(
    start_server: Callable[..., ServerProc],
) -> None:
    server = start_server(env={"LIVE_OUTBOX_MAX_BYTES": "65536"})
    token = server.token(name="Alice", sub="alice")
    healthy = await open_me(server, token)
    bob = await open_me(server, server.token(name="Bob", sub="bob"))
    # Alice's other tab never reads: a tiny receive window set before connecting, and no reads.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    sock.setblocking(False)
    stalled = await websockets.connect(
        f"{server.ws_url}/ws/me?token={token}", sock=sock, compression=None, max_queue=1
    )
    stalled.transport.pause_reading()
    metrics = await _metrics(server.url)
    assert "live_me_connections 3" in metrics, metrics
    redis = aioredis.Redis.from_url(server.redis_url, decode_responses=True)
    filler = "x" * 2000
    n, batch = 6000, 16  # 12 MB: past the outbox bound plus all that kernel socket buffers hold
    try:
        for start in range(0, n, batch):
            pipe = redis.pipeline(transaction=False)
            for i in range(start, start + batch):
                text = orjson.dumps(order("alice", f"o-{i}", filler=filler)).decode()
                pipe.publish(me_channel(server.prefix, "alice"), text)
            await pipe.execute()
            # Paced by the healthy tab, as a real client reads: the bound is per socket.
            await healthy.wait_for(_order_named(f"o-{start + batch - 1}"))
        await publish(server.redis_url, server.prefix, "bob", order("bob", "o-bob"))
    finally:
        await redis.aclose()
    assert [o["id"] for o in _orders(healthy.events)] == [f"o-{i}" for i in range(n)]  # type: ignore[index]
    assert [o["id"] for o in _orders(await _settled(bob))] == ["o-bob"]  # type: ignore[index]
    for _ in range(100):
        metrics = await _metrics(server.url)
        if "live_me_connections 2" in metrics:
            break
        await asyncio.sleep(0.1)
    assert 'live_disconnects_total{code="4008"} 1' in metrics, metrics
    assert "live_me_connections 2" in metrics, metrics
    stalled.transport.abort()
    await healthy.close()
    await bob.close()


def _order_named(oid: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("t") == "order" and e["order"]["id"] == oid


def _order_numbered(n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("t") == "order" and e["order"].get("n") == n


async def _settled(client: Client) -> list[dict[str, Any]]:
    await client.next_of("order")
    return client.events


async def test_a_hostile_socket_costs_only_itself(live_server: ServerProc) -> None:
    token = live_server.token(name="Alice", sub="alice")
    calm = await open_me(live_server, token)
    big = await open_me(live_server, token)
    await big.send('{"t":"ping","pad":"' + "x" * 5000 + '"}')
    assert await big.closed() == 1009
    flood = await open_me(live_server, token)
    for _ in range(120):  # far past the frame budget (40 at once, 20/s), below the wire budget
        await flood.send({"t": "ping"})
    assert await flood.closed() == 1008
    assert any(e.get("code") == "rate_limited" for e in flood.events)
    # Past the per-user cap of one process a new socket is refused; those open stay open.
    tabs = [await open_me(live_server, token) for _ in range(MAX_SOCKETS_PER_USER - 1)]
    crowded = await connect_me(live_server, token)
    assert await crowded.closed() == 1008
    assert [e.get("code") for e in crowded.events] == ["rate_limited"]
    body = order("alice", "o-calm")
    await publish(live_server.redis_url, live_server.prefix, "alice", body)
    for tab in (calm, *tabs):
        assert (await tab.next_of("order"))["order"] == body
    await calm.send({"t": "ping"})
    await calm.next_of("pong")
    for tab in (calm, *tabs):
        await tab.close()


async def test_a_process_subscribes_to_a_user_s_channel_only_while_they_have_a_socket_there(
    start_server: Callable[..., ServerProc],
) -> None:
    a, b = start_server(), start_server()
    url, prefix = a.redis_url, a.prefix
    redis = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        # Two processes fed, no sockets: subscribed to no user's channel (only to the go-live
        # broadcast, docs/me.md), so Redis drops an order at once.
        for server in (a, b):
            await until_metric(server, "live_me_subscribed 1")
        assert await redis.pubsub_channels(me_channel(prefix, "*")) == [me_channel(prefix, "!live")]
        assert await publish(url, prefix, "alice", order("alice", "o-0")) == 0

        token = a.token(name="Alice", sub="alice")
        on_a = await open_me(a, token)
        assert await numsub(url, prefix, "alice") == [1]  # confirmed before the socket opened
        on_b = [await open_me(b, token) for _ in range(2)]
        assert await numsub(url, prefix, "alice") == [2]  # one subscription per process
        for tab in on_b:
            await tab.close()
        await until_numsub(url, prefix, "alice", 1)  # b's lingers a moment, then goes
        await on_a.close()
        await until_numsub(url, prefix, "alice", 0)
        await until_metric(a, "live_me_channels 0")
    finally:
        await redis.aclose()


async def test_opening_and_closing_sockets_in_a_loop_costs_redis_one_subscribe(
    own_redis: RedisProc, start_server: Callable[..., ServerProc]
) -> None:
    server = start_server(redis_url=own_redis.url)
    token = server.token(name="Alice", sub="alice")
    await (await open_me(server, server.token(name="Bob", sub="bob"))).close()  # the feed is up
    redis = aioredis.Redis.from_url(own_redis.url, decode_responses=True)
    try:
        await redis.config_resetstat()
        at_once = await asyncio.gather(*(open_me(server, token) for _ in range(5)))
        for tab in at_once:
            await tab.close()
        # Long enough for the feed to look for idle channels a few times: each look finds Alice's
        # between two sockets, but never idle for as long as the linger.
        deadline = time.monotonic() + LINGER_S + 3 * POLL_S
        while time.monotonic() < deadline:
            await (await open_me(server, token)).close()
            await asyncio.sleep(0.05)
        stats = await redis.info("commandstats")
        assert stats["cmdstat_subscribe"]["calls"] == 1, stats
        await until_numsub(own_redis.url, server.prefix, "alice", 0)
    finally:
        await redis.aclose()


async def test_an_open_socket_misses_nothing_published_after_it_opened(live_server: ServerProc) -> None:
    redis = aioredis.Redis.from_url(live_server.redis_url)
    try:
        for j in range(8):  # a user of its own each time: each open waits for a new SUBSCRIBE
            user = f"gap{j}"
            opened = asyncio.Event()
            first_after_open: list[int] = []

            async def publisher(
                user: str = user,
                opened: asyncio.Event = opened,
                first_after_open: list[int] = first_after_open,
            ) -> int:
                n = after = 0
                while after < 100:
                    if opened.is_set():
                        if not first_after_open:
                            first_after_open.append(n)
                        after += 1
                    await redis.publish(me_channel(live_server.prefix, user), orjson.dumps({"n": n}))
                    n += 1
                return n

            publishing = asyncio.create_task(publisher())
            await asyncio.sleep(0.01)  # orders are flowing before the socket asks to open
            client = await connect_me(live_server, live_server.token(name="Gap", sub=user))
            opened.set()
            last = await publishing
            await client.wait_for(_order_numbered(last - 1))
            # Everything published once the client saw the socket open arrived, in order.
            k = first_after_open[0]
            got = [o["n"] for o in _orders(client.events)]  # type: ignore[index]
            assert [n for n in got if n >= k] == list(range(k, last)), (k, got[:5])
            await client.close()
    finally:
        await redis.aclose()
