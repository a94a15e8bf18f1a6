"""``GET /api/rooms/{room}/history`` against real `live serve` processes (contract §12): every
durable event once, in order, far beyond the resume window, also when a process is killed with
SIGKILL while chat pours in and the archive moves chunk after chunk."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
import websockets

from live.keys import RoomKeys
from tests.support import Client, Http, ServerProc, make_room

pytestmark = pytest.mark.timeout(180)

FAST = {"LIVE_CHAT_RATE_POSTS": "0", "LIVE_FRAMES_PER_S": "0", "LIVE_DUPLICATE_WINDOW_MS": "0"}


async def all_pages(server: ServerProc, room: str, limit: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after: int | None = 0
    http = Http(server)
    while after is not None:
        r = await http.call("GET", f"/api/rooms/{room}/history?after={after}&limit={limit}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["events"]) <= limit
        events.extend(body["events"])
        after = body["next"]
    return events


_ids = itertools.count()  # request ids and texts, never the same twice in a run


async def chatter(clients: list[Client], n: int, acked: dict[int, str]) -> None:
    """Each client posts ``n`` lines, one after the other; acked seq -> text."""

    async def one(client: Client, who: int) -> None:
        for i in range(n):
            k = next(_ids)
            text = f"u{who} line {i} #{k}"
            try:
                reply = await client.request({"t": "chat", "id": f"c{k}", "text": text})
            except (
                AssertionError,
                websockets.ConnectionClosed,
            ):  # the server went away mid-request: unacked, may or may not be kept
                return
            assert reply["t"] == "ack", reply
            acked[reply["seq"]] = text

    await asyncio.gather(*(one(c, w) for w, c in enumerate(clients)))


async def viewers(server: ServerProc, room: str, n: int) -> list[Client]:
    return [await Client.connect(server, room, server.token(name=f"U{i}", sub=f"u{i}")) for i in range(n)]


def check_whole(events: list[dict[str, Any]], acked: dict[int, str]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))  # from the first, each once, in order
    by_seq = {e["seq"]: e for e in events}
    for seq, text in acked.items():
        assert by_seq[seq]["t"] == "chat" and by_seq[seq]["text"] == text
    texts = [e["text"] for e in events if e["t"] == "chat"]
    assert len(texts) == len(set(texts))  # no post kept twice


async def test_history_pages_return_every_event_once_beyond_the_resume_window(
    start_server: Callable[..., ServerProc],
) -> None:
    server = start_server(env=FAST)
    room, _ = await make_room(server)
    clients = await viewers(server, room, 10)
    acked: dict[int, str] = {}
    try:
        await chatter(clients, 212, acked)
    finally:
        for c in clients:
            await c.close()
    events = await all_pages(server, room, 1000)
    assert len(events) > 2_100
    check_whole(events, acked)
    assert await all_pages(server, room, 257) == events
    r = await Http(server).call("GET", f"/api/rooms/{room}/history?after=10&limit=5")
    assert [e["seq"] for e in r.json()["events"]] == [11, 12, 13, 14, 15] and r.json()["next"] == 15


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "after=-1", "after=x", "limit=2.5"])
async def test_a_bad_page_is_a_bad_request(shared_server: ServerProc, query: str) -> None:
    room, _ = await make_room(shared_server)
    r = await Http(shared_server).call("GET", f"/api/rooms/{room}/history?{query}")
    assert (r.status_code, r.json()["error"]) == (400, "bad_request")


async def test_an_unknown_room_has_no_history_and_no_replay(shared_server: ServerProc) -> None:
    for path in ("history", "replay", "replay/0.webm"):
        r = await Http(shared_server).call("GET", f"/api/rooms/no-such-room-here/{path}")
        assert (r.status_code, r.json()["error"]) == (404, "not_found")


async def test_a_show_without_video_replays_its_moments_from_go_live(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    pin = {
        "id": "p1",
        "product": {"id": "mug", "title": "Panda mug", "list_price_cents": 3000},
        "stock": 5,
        "duration_s": 60,
        "tiers": [{"at": 0, "price_cents": 2500}],
    }
    early = (await Http(shared_server).call("GET", f"/api/rooms/{room}/replay")).json()
    assert early["status"] == "live" and early["moments"] == []
    assert (await host.call("POST", f"/api/rooms/{room}/pins", pin)).status_code == 201
    assert (await host.call("POST", f"/api/rooms/{room}/stop")).status_code == 200
    replay = (await Http(shared_server).call("GET", f"/api/rooms/{room}/replay")).json()
    assert replay["video_url"] is None and replay["videos"] == [] and replay["status"] == "ended"
    assert replay["started_ms"] > 0 and replay["duration_ms"] >= 0
    assert [m["kind"] for m in replay["moments"]][:1] == ["pin"]
    assert 0 <= replay["moments"][0]["at_ms"] <= replay["duration_ms"]


async def test_nothing_is_lost_or_doubled_when_a_process_is_killed_mid_archive(
    start_server: Callable[..., ServerProc],
) -> None:
    # The smallest resume window the contract allows: the archive moves from seq 1,100 on.
    env = {**FAST, "LIVE_HISTORY_KEEP": "1000"}
    first, second = start_server(env=env), start_server(env=env)
    room, _ = await make_room(first)
    acked: dict[int, str] = {}
    clients = await viewers(first, room, 12)
    # Posting as fast as twelve sockets go: past seq 1,100 a chunk moves with every 100th post.
    posting = asyncio.create_task(chatter(clients, 10_000, acked))
    while len(acked) < 1_900 and not posting.done():
        await asyncio.sleep(0.01)
    first.kill()
    await posting
    for c in clients:
        await c.close()
    assert len(acked) < 12 * 10_000  # it was cut off mid-stream
    redis = aioredis.Redis.from_url(second.redis_url, decode_responses=True)
    try:
        archived = int(await redis.hget(RoomKeys(second.prefix, room).meta, "archived") or 0)
    finally:
        await redis.aclose()
    assert archived >= 7  # chunks were moving while it died
    clients = await viewers(second, room, 12)
    try:
        await chatter(clients, 100, acked)
    finally:
        for c in clients:
            await c.close()
    assert len(acked) > 2_000
    events = await all_pages(second, room, 1000)
    check_whole(events, acked)
    assert await all_pages(second, room, 99) == events
