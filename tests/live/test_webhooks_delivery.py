"""Webhook delivery end to end: real ``live serve`` processes, a real Redis, a real HTTP receiver.

Events are seeded into the rooms' outboxes the way the room scripts write them (webhooks_kit.seed),
except in the last test, where a real room's start and stop write them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from live.keys import RoomKeys, hook_rooms
from live.redis_client import connect
from tests.live.webhooks_kit import SECRET, Receiver, seed
from tests.support import Http, ServerProc, make_room, unique_room

FAST = {"LIVE_WEBHOOK_BACKOFF_MAX_S": "1", "LIVE_WEBHOOK_TIMEOUT_S": "2"}


def hook_env(receiver: Receiver, **extra: str) -> dict[str, str]:
    return {"LIVE_WEBHOOK_URL": receiver.url, "LIVE_WEBHOOK_SECRET": SECRET, **FAST, **extra}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Any]:
    client = connect(redis_url)
    yield client
    await client.aclose()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def service(server: ServerProc) -> Http:
    return Http(server, server.token("service", None, name="Shop", sub="shop"))


async def deliveries(server: ServerProc, status: str, limit: int = 1000) -> list[dict[str, Any]]:
    r = await service(server).call("GET", f"/api/webhooks/deliveries?status={status}&limit={limit}")
    assert r.status_code == 200, r.text
    return list(r.json()["deliveries"])


async def wait_delivered(receiver: Receiver, ids: set[str], timeout: float = 60) -> None:
    await asyncio.to_thread(receiver.wait, lambda _: ids <= receiver.delivered_ids(), timeout)


async def wait_listed(server: ServerProc, ids: set[str], timeout: float = 30) -> list[dict[str, Any]]:
    """The delivered list once every id is in it (the 2xx is recorded just after it is answered)."""
    deadline = time.monotonic() + timeout
    while True:
        listed = await deliveries(server, "delivered")
        if ids <= {d["id"] for d in listed} or time.monotonic() > deadline:
            return listed
        await asyncio.sleep(0.1)


def one_2xx_each(listed: list[dict[str, Any]], ids: set[str]) -> None:
    """Every id listed once, with exactly one 2xx among its attempts (at least once, recorded once)."""
    mine = [d for d in listed if d["id"] in ids]
    assert Counter(d["id"] for d in mine) == Counter(ids)
    for d in mine:
        assert d["status"] == "delivered"
        assert sum(1 for a in d["attempts"] if 200 <= a.get("status", 0) < 300) == 1, d


async def test_events_are_delivered_signed_listed_and_counted(
    start_server: Callable[..., ServerProc], receiver: Receiver, redis: Any
) -> None:
    server = start_server(env=hook_env(receiver))
    live_room, ended_room = unique_room("wh"), unique_room("wh")
    ids = set(await seed(redis, server.prefix, live_room, 3, now_ms()))
    ids |= set(await seed(redis, server.prefix, ended_room, 2, now_ms(), status="ended"))
    await wait_delivered(receiver, ids)
    assert receiver.all_signed()
    listed = await wait_listed(server, ids)
    one_2xx_each(listed, ids)
    first = next(d for d in listed if d["id"] == f"evt_{live_room}_3")
    assert first["type"] == "order.confirmed" and first["data"]["order"]["id"] == "o-3"
    assert [d["created_ms"] for d in listed] == sorted((d["created_ms"] for d in listed), reverse=True)
    assert [d for d in await deliveries(server, "pending") if d["id"] in ids] == []
    # The ended room leaves the index once its outbox is empty; the live one is kept, due later.
    index = hook_rooms(server.prefix)
    deadline = time.monotonic() + 10
    while await redis.zscore(index, ended_room) is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await redis.zscore(index, ended_room) is None
    assert (await redis.zscore(index, live_room) or 0) > now_ms()
    metrics = (await Http(server).call("GET", "/metrics")).text
    assert 'live_webhook_deliveries_total{outcome="delivered"} 5' in metrics
    assert "live_webhook_queue_depth" in metrics and "live_webhook_oldest_pending_ms" in metrics


async def test_the_deliveries_api_is_for_the_service_role_only(
    start_server: Callable[..., ServerProc], receiver: Receiver
) -> None:
    server = start_server(env=hook_env(receiver))
    path = "/api/webhooks/deliveries?status=pending"
    assert (await Http(server).call("GET", path)).status_code == 401
    viewer = Http(server, server.token("viewer", None, name="Vic"))
    assert (await viewer.call("GET", path)).json()["error"] == "forbidden"
    shop = service(server)
    assert (await shop.call("GET", path)).json() == {"deliveries": []}
    for bad in ("status=sent", "", "status=pending&limit=0", "status=pending&limit=1001"):
        r = await shop.call("GET", f"/api/webhooks/deliveries?{bad}")
        assert (r.status_code, r.json()["error"]) == (400, "bad_request"), bad


async def test_a_flaky_then_dead_receiver_gets_every_event_once_it_comes_back(
    start_server: Callable[..., ServerProc], redis: Any
) -> None:
    receiver = Receiver(decide=lambda n, body: 500 if n % 2 else 200)  # every other request fails
    try:
        server = start_server(env=hook_env(receiver))
        rooms = [unique_room("wh") for _ in range(3)]
        ids: set[str] = set()
        for room in rooms:
            ids |= set(await seed(redis, server.prefix, room, 10, now_ms()))
        await asyncio.to_thread(receiver.wait, lambda req: len(req) >= 10)
        receiver.down()  # connection refused for a while
        refused_from = len(receiver.requests)
        await asyncio.sleep(2.5)
        receiver.up()
        await wait_delivered(receiver, ids)
        assert receiver.all_signed()
        listed = await wait_listed(server, ids)
        one_2xx_each(listed, ids)
        attempts = [a for d in listed for a in d["attempts"]]
        assert any(a.get("status") == 500 for a in attempts)
        assert any("error" in a for a in attempts), "the refused attempts are recorded as errors"
        assert len(receiver.requests) > refused_from
        metrics = (await Http(server).call("GET", "/metrics")).text
        assert 'live_webhook_deliveries_total{outcome="delivered"} 30' in metrics
        assert 'live_webhook_deliveries_total{outcome="failed"}' in metrics
    finally:
        receiver.close()


async def test_two_processes_deliver_every_event(
    start_server: Callable[..., ServerProc], receiver: Receiver, redis: Any
) -> None:
    first = start_server(env=hook_env(receiver))
    second = start_server(env=hook_env(receiver))
    rooms = [unique_room("wh") for _ in range(4)]
    ids: set[str] = set()
    for batch in range(4):  # while the first ones are being delivered, more come
        for room in rooms[batch % 2 :: 2]:
            ids |= set(await seed(redis, first.prefix, room, 10, now_ms()))
        await asyncio.sleep(0.1)
    await wait_delivered(receiver, ids)
    one_2xx_each(await wait_listed(second, ids), ids)


async def test_a_process_killed_mid_delivery_loses_nothing(
    start_server: Callable[..., ServerProc], redis: Any
) -> None:
    answering = {"on": False}
    receiver = Receiver(decide=lambda n, body: 200 if answering["on"] else None)  # None: held open
    try:
        doomed = start_server(env=hook_env(receiver))
        room = unique_room("wh")
        ids = set(await seed(redis, doomed.prefix, room, 3, now_ms()))
        await asyncio.to_thread(receiver.wait, lambda req: len(req) >= 3)
        doomed.kill()  # SIGKILL with the three requests open: no result is recorded
        answering["on"] = True
        receiver.release()
        assert [d["id"] for d in await deliveries_direct(redis, doomed.prefix, room)] == []
        survivor = start_server(env=hook_env(receiver))
        await wait_delivered(receiver, ids)  # once the killed process's lease has run out
        listed = await wait_listed(survivor, ids)
        one_2xx_each(listed, ids)
        for d in listed:
            assert len(d["attempts"]) == 1, "the killed attempt left no record"
    finally:
        receiver.close()


async def deliveries_direct(redis: Any, prefix: str, room: str) -> list[dict[str, Any]]:
    """The room's delivered events straight from Redis (the killed server cannot be asked)."""
    return [{"id": i} for i in await redis.zrange(RoomKeys(prefix, room).hooks_delivered, 0, -1)]


async def test_a_real_room_sends_room_live_and_room_ended(
    start_server: Callable[..., ServerProc], receiver: Receiver
) -> None:
    server = start_server(env=hook_env(receiver))
    room, host = await make_room(server, unique_room("wh"))
    r = await host.call("POST", f"/api/rooms/{room}/stop")
    assert r.status_code == 200, r.text
    ids = {f"evt_{room}_1", f"evt_{room}_2"}
    await wait_delivered(receiver, ids)
    listed = await wait_listed(server, ids)
    one_2xx_each(listed, ids)
    by_id = {d["id"]: d for d in listed}
    assert by_id[f"evt_{room}_1"]["type"] == "room.live"
    assert by_id[f"evt_{room}_1"]["data"]["room"]["id"] == room
    assert by_id[f"evt_{room}_2"]["type"] == "room.ended"
    assert by_id[f"evt_{room}_2"]["data"]["room"]["status"] == "ended"


async def test_a_slow_failing_receiver_holds_at_most_32_requests_and_the_rooms_go_on(
    start_server: Callable[..., ServerProc], redis: Any
) -> None:
    # Each answer (a 503) takes 3 s, far within the timeout: every request the receiver holds is
    # one the deliverer still waits for, so the receiver sees exactly what is in flight.
    receiver = Receiver(decide=lambda n, body: 503, answer_after_s=3.0)
    try:
        server = start_server(env=hook_env(receiver, LIVE_WEBHOOK_TIMEOUT_S="20"))
        await seed(redis, server.prefix, unique_room("wh"), 100, now_ms())
        await asyncio.to_thread(receiver.wait, lambda req: len(req) >= 32)
        room, host = await make_room(server, unique_room("wh"))  # the request path is not held up
        assert (await host.call("GET", f"/api/rooms/{room}")).json()["room"]["status"] == "live"
        await asyncio.to_thread(receiver.wait, lambda req: len(req) >= 64)  # a second round
        assert receiver.max_holding == 32  # the in-flight bound: reached, never passed
    finally:
        receiver.close()
