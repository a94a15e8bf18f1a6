"""The WebSocket gateway (contract §4) over real sockets: every event, every error code."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import websockets

from tests.support import Client, ServerProc, make_room, unique_room


async def test_hello_snapshot(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server, title="Panda night")
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    hello = bob.events[0]
    assert hello["t"] == "hello" and hello["resumed"] is False
    assert hello["room"]["id"] == room and hello["room"]["title"] == "Panda night"
    assert hello["room"]["status"] == "live" and hello["room"]["host"]["name"] == "Host"
    assert hello["you"] == {
        "id": "bob",
        "name": "Bob",
        "role": "viewer",
        "muted_until_ms": 0,
        "follows_host": False,
    }
    assert hello["pin"] is None and hello["chat"] == [] and hello["likes"] == 0
    assert hello["seq"] == 1
    anon = await Client.connect(shared_server, room)
    assert anon.events[0]["you"] is None
    await bob.close()
    await anon.close()


async def test_chat_is_acked_and_reaches_everyone_in_order(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    watcher = await Client.connect(shared_server, room)
    bob_start = len(bob.events)
    ack = await bob.request({"t": "chat", "id": "c1", "text": "  hello 🐼  "})
    assert ack["t"] == "ack" and ack["seq"] == 2
    # The line may reach Bob before or after its ack (two paths): look from before the request.
    bob.rewind(bob_start)
    for client in (bob, watcher):
        chat = await client.next_of("chat")
        assert (
            chat["seq"] == 2 and chat["text"] == "hello 🐼" and chat["user"] == {"id": "bob", "name": "Bob"}
        )
        assert isinstance(chat["ts_ms"], int)
    late = await Client.connect(shared_server, room)
    assert [c["text"] for c in late.events[0]["chat"]] == ["hello 🐼"]
    for c in (bob, watcher, late):
        await c.close()


async def test_recent_chat_keeps_the_last_50(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(env={"LIVE_CHAT_RATE_POSTS": "0", "LIVE_FRAMES_PER_S": "0"})
    room, _ = await make_room(server)
    bob = await Client.connect(server, room, server.token(name="Bob"))
    for i in range(55):
        assert (await bob.request({"t": "chat", "id": f"c{i}", "text": f"line {i}"}))["t"] == "ack"
    late = await Client.connect(server, room)
    texts = [c["text"] for c in late.events[0]["chat"]]
    assert texts == [f"line {i}" for i in range(5, 55)]
    await bob.close()
    await late.close()


BAD_FRAMES = [
    ("not json", "bad_request"),
    ("[1,2,3]", "bad_request"),
    ("42", "bad_request"),
    ('{"t":"dance"}', "bad_request"),
    ('{"text":"no t"}', "bad_request"),
    ('{"t":"chat","text":"hi"}', "bad_request"),
    ('{"t":"chat","id":"c1"}', "bad_request"),
    ('{"t":"chat","id":"c1","text":["x"]}', "bad_request"),
    ('{"t":"chat","id":"c1","text":""}', "bad_request"),
    ('{"t":"chat","id":"c1","text":"   "}', "bad_request"),
    ('{"t":"chat","id":"c1","text":"a\\u0000b"}', "bad_request"),
    ('{"t":"chat","id":"c1","text":"line\\nbreak"}', "bad_request"),
    ('{"t":"chat","id":"c1","text":"' + "x" * 201 + '"}', "too_long"),
    ('{"t":"like","n":0}', "bad_request"),
    ('{"t":"like","n":"1"}', "bad_request"),
    ('{"t":"buy","id":"b1","pin":"p1","qty":0}', "bad_request"),
    ('{"t":"buy","id":"b1","pin":"p1"}', "bad_request"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
async def test_bad_input_gets_a_code_and_disturbs_nobody(
    shared_server: ServerProc, frame: str, code: str
) -> None:
    room, _ = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    other = await Client.connect(shared_server, room, shared_server.token(name="Ann", sub="ann"))
    await bob.send(frame)
    err = await bob.next_of("error")
    assert err["code"] == code and err["message"]
    if '"id":"c1"' in frame or '"id":"b1"' in frame:
        assert err["id"] in ("c1", "b1")
    # The connection is still open, and the room goes on for everyone.
    pong_wait = bob.next_of("pong")
    await bob.send({"t": "ping"})
    await pong_wait
    assert (await bob.request({"t": "chat", "id": "ok", "text": "still here"}))["t"] == "ack"
    assert (await other.next_of("chat"))["text"] == "still here"
    assert not [e for e in other.events if e["t"] == "error"]
    snap = other.events[0]
    assert snap["seq"] == 1  # the bad frame appended nothing
    await bob.close()
    await other.close()


async def test_anonymous_may_watch_not_act(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server)
    anon = await Client.connect(shared_server, room)
    for frame in ({"t": "chat", "id": "c1", "text": "hi"}, {"t": "buy", "id": "b1", "pin": "p1", "qty": 1}):
        err = await anon.request(frame)
        assert err["t"] == "error" and err["code"] == "unauthorized"
    await anon.send({"t": "like", "n": 1})
    assert (await anon.next_of("error"))["code"] == "unauthorized"
    await anon.close()


async def test_invalid_token_gets_one_frame_and_4001(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server)
    async with websockets.connect(f"{shared_server.ws_url}/ws/{room}?token=garbage") as ws:
        frame = orjson.loads(await ws.recv())
        assert frame == [{"t": "error", "code": "unauthorized", "message": frame[0]["message"]}]
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4001


async def test_unknown_room_closes_4004(shared_server: ServerProc) -> None:
    async with websockets.connect(f"{shared_server.ws_url}/ws/{unique_room('ghost')}") as ws:
        frame = orjson.loads(await ws.recv())
        assert frame[0]["code"] == "not_found"
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4004


async def test_oversize_frame_closes_1009_others_unaffected(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    ann = await Client.connect(shared_server, room, shared_server.token(name="Ann", sub="ann"))
    await bob.send('{"t":"chat","id":"c1","text":"' + "x" * 5000 + '"}')
    assert await bob.closed() == 1009
    assert (await ann.request({"t": "chat", "id": "a1", "text": "fine"}))["t"] == "ack"
    await ann.close()


async def test_rate_limit_then_flood_close_1008(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    for i in range(5):
        assert (await bob.request({"t": "chat", "id": f"c{i}", "text": f"msg {i}"}))["t"] == "ack"
    err = await bob.request({"t": "chat", "id": "c5", "text": "msg 5"})
    assert err["code"] == "rate_limited" and 0 < err["retry_after_ms"] <= 10_000
    for i in range(6, 40):
        await bob.send({"t": "chat", "id": f"c{i}", "text": f"msg {i}"})
    assert await bob.closed() == 1008
    ann = await Client.connect(shared_server, room, shared_server.token(name="Ann", sub="ann"))
    assert (await ann.request({"t": "chat", "id": "a1", "text": "room fine"}))["t"] == "ack"
    await ann.close()


async def test_rate_limit_holds_across_connections(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server)
    token = shared_server.token(name="Bob", sub="bob")
    one, two = (
        await Client.connect(shared_server, room, token),
        await Client.connect(shared_server, room, token),
    )
    answers = []
    for i in range(6):
        client = one if i % 2 else two
        answers.append((await client.request({"t": "chat", "id": f"c{i}", "text": f"m{i}"}))["t"])
    assert answers == ["ack"] * 5 + ["error"]
    await one.close()
    await two.close()


async def test_duplicate_text(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    assert (await bob.request({"t": "chat", "id": "c1", "text": "same"}))["t"] == "ack"
    err = await bob.request({"t": "chat", "id": "c2", "text": "  same "})
    assert err["code"] == "duplicate"
    ann = await Client.connect(shared_server, room, shared_server.token(name="Ann", sub="ann"))
    assert (await ann.request({"t": "chat", "id": "a1", "text": "same"}))["t"] == "ack"  # per user
    await bob.close()
    await ann.close()


async def test_mute_unmute(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    r = await host.call(
        "POST", f"/api/rooms/{room}/moderation", {"action": "mute", "user": "bob", "seconds": 60}
    )
    assert r.status_code == 200
    mod = await bob.next_of("mod")
    assert mod == {"t": "mod", "seq": mod["seq"], "action": "mute", "user": "bob", "seconds": 60}
    err = await bob.request({"t": "chat", "id": "c1", "text": "hi"})
    assert err["code"] == "muted" and 55_000 < err["retry_after_ms"] <= 60_000
    again = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    assert again.events[0]["you"]["muted_until_ms"] > 0
    await host.call("POST", f"/api/rooms/{room}/moderation", {"action": "unmute", "user": "bob"})
    await bob.next_of("mod", action="unmute")
    assert (await bob.request({"t": "chat", "id": "c2", "text": "back"}))["t"] == "ack"
    await bob.close()
    await again.close()


async def test_ban_closes_4003_everywhere_and_refuses_reconnect(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    token = shared_server.token(name="Bob", sub="bob")
    bob1, bob2 = (
        await Client.connect(shared_server, room, token),
        await Client.connect(shared_server, room, token),
    )
    ann = await Client.connect(shared_server, room, shared_server.token(name="Ann", sub="ann"))
    await host.call("POST", f"/api/rooms/{room}/moderation", {"action": "ban", "user": "bob"})
    assert await bob1.closed() == 4003
    assert await bob2.closed() == 4003
    assert (await ann.next_of("mod"))["action"] == "ban"
    async with websockets.connect(f"{shared_server.ws_url}/ws/{room}?token={token}") as ws:
        assert orjson.loads(await ws.recv())[0]["code"] == "banned"
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4003
    await host.call("POST", f"/api/rooms/{room}/moderation", {"action": "unban", "user": "bob"})
    back = await Client.connect(shared_server, room, token)
    assert (await back.request({"t": "chat", "id": "c1", "text": "I'm back"}))["t"] == "ack"
    await back.close()
    await ann.close()


async def test_delete_removes_a_line(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    seq = (await bob.request({"t": "chat", "id": "c1", "text": "rude"}))["seq"]
    await bob.request({"t": "chat", "id": "c2", "text": "nice"})
    r = await host.call("POST", f"/api/rooms/{room}/moderation", {"action": "delete", "seq": seq})
    assert r.status_code == 200
    assert (await bob.next_of("chat_deleted"))["target"] == seq
    late = await Client.connect(shared_server, room)
    assert [c["text"] for c in late.events[0]["chat"]] == ["nice"]
    r = await host.call("POST", f"/api/rooms/{room}/moderation", {"action": "delete", "seq": 1})
    assert (r.status_code, r.json()["error"]) == (400, "bad_request")  # seq 1 is the "room" event
    r = await host.call("POST", f"/api/rooms/{room}/moderation", {"action": "delete", "seq": 999})
    assert r.status_code == 404
    await bob.close()
    await late.close()


async def test_slow_mode(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    await host.call("POST", f"/api/rooms/{room}/moderation", {"action": "slow", "seconds": 30})
    assert (await bob.next_of("mod"))["seconds"] == 30
    assert (await bob.request({"t": "chat", "id": "c1", "text": "one"}))["t"] == "ack"
    err = await bob.request({"t": "chat", "id": "c2", "text": "two"})
    assert err["code"] == "rate_limited" and err["retry_after_ms"] > 25_000
    host_ws = await Client.connect(
        shared_server, room, shared_server.token("host", room, name="Host", sub="host")
    )
    for i in range(2):
        assert (await host_ws.request({"t": "chat", "id": f"h{i}", "text": f"host {i}"}))["t"] == "ack"
    await host.call("POST", f"/api/rooms/{room}/moderation", {"action": "slow", "seconds": 0})
    await bob.next_of("mod", seconds=0)
    assert (await bob.request({"t": "chat", "id": "c3", "text": "three"}))["t"] == "ack"
    await bob.close()
    await host_ws.close()


async def test_likes_and_viewers_flow(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    ann = await Client.connect(shared_server, room)
    await ann.wait_for(lambda e: e["t"] == "viewers" and e["n"] == 2)
    for _ in range(3):
        await bob.send({"t": "like", "n": 4})
    await ann.wait_for(lambda e: e["t"] == "likes" and e["total"] == 12)
    await bob.close()
    await ann.wait_for(lambda e: e["t"] == "viewers" and e["n"] == 1)
    await ann.close()


async def test_chat_in_an_ended_room(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    await host.call("POST", f"/api/rooms/{room}/stop")
    await bob.next_of("room", status="ended")
    assert (await bob.request({"t": "chat", "id": "c1", "text": "hello?"}))["code"] == "ended"
    await bob.close()


async def test_host_token_of_another_room_is_a_viewer_here(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server)
    visitor = await Client.connect(shared_server, room, shared_server.token("host", "elsewhere", name="V"))
    assert visitor.events[0]["you"]["role"] == "viewer"
    await visitor.close()


async def test_frames_batch_several_events(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(env={"LIVE_TICK_MS": "200", "LIVE_CHAT_RATE_POSTS": "0"})
    room, _ = await make_room(server)
    watcher = await Client.connect(server, room)
    posters = [await Client.connect(server, room, server.token(name=f"P{i}", sub=f"p{i}")) for i in range(4)]
    await asyncio.gather(*(p.request({"t": "chat", "id": "c", "text": "batch me"}) for p in posters))
    await watcher.wait_for(lambda e: e["t"] == "chat" and sum(x["t"] == "chat" for x in watcher.events) == 4)
    assert watcher.frames < 1 + 4  # hello + at least one frame carrying several chat events
    for c in (watcher, *posters):
        await c.close()
