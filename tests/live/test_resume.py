"""Resume with `since`: no gap, no duplicate; a snapshot when `since` is too old."""

from __future__ import annotations

from tests.support import Client, ServerProc, make_room


async def test_resume_after_disconnect_has_no_gap_no_duplicate(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(
        env={"LIVE_CHAT_RATE_POSTS": "0", "LIVE_FRAMES_PER_S": "0", "LIVE_WIRE_FRAMES_PER_S": "0"}
    )
    room, _ = await make_room(server)
    poster = await Client.connect(server, room, server.token(name="Ann", sub="ann"))
    viewer = await Client.connect(server, room)
    for i in range(5):
        await poster.request({"t": "chat", "id": f"a{i}", "text": f"before {i}"})
    await viewer.wait_for(lambda e: e.get("text") == "before 4")
    last = max(e["seq"] for e in viewer.durable())
    await viewer.close()
    for i in range(7):
        await poster.request({"t": "chat", "id": f"b{i}", "text": f"while away {i}"})
    resumed = await Client.connect(server, room, since=last)
    hello = resumed.events[0]
    assert hello["resumed"] is True and hello["chat"] == []
    for i in range(3):
        await poster.request({"t": "chat", "id": f"c{i}", "text": f"after {i}"})
    await resumed.wait_for(lambda e: e.get("text") == "after 2")
    seqs = [e["seq"] for e in resumed.durable()]
    assert seqs == list(range(last + 1, last + 11))
    await poster.close()
    await resumed.close()


async def test_since_too_old_gets_a_fresh_snapshot(start_server) -> None:  # type: ignore[no-untyped-def]
    # Keep only ~100 events so that falling behind is quick to provoke.
    server = start_server(
        env={"LIVE_CHAT_RATE_POSTS": "0", "LIVE_FRAMES_PER_S": "0", "LIVE_WIRE_FRAMES_PER_S": "0"}
    )
    room, _ = await make_room(server)
    poster = await Client.connect(server, room, server.token(name="Ann", sub="ann"))
    # The stream keeps at least 2,000 events; post past that.
    for i in range(2100):
        await poster.send({"t": "chat", "id": f"a{i}", "text": f"line {i}"})
    await poster.wait_for(lambda e: e.get("t") == "ack" and e.get("id") == "a2099", timeout=60)
    old = await Client.connect(server, room, since=1)
    hello = old.events[0]
    assert hello["resumed"] is False
    assert len(hello["chat"]) == 50 and hello["chat"][-1]["text"] == "line 2099"
    still_ok = await Client.connect(server, room, since=hello["seq"] - 1000)
    assert still_ok.events[0]["resumed"] is True
    await still_ok.wait_for(lambda e: e.get("text") == "line 2099")
    seqs = [e["seq"] for e in still_ok.durable()]
    assert seqs == list(range(hello["seq"] - 999, hello["seq"] + 1))
    for c in (poster, old, still_ok):
        await c.close()


async def test_since_in_the_future_or_malformed(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server)
    future = await Client.connect(shared_server, room, since=10_000)
    assert future.events[0]["resumed"] is False
    bad = await Client.connect(shared_server, room, since="abc")  # type: ignore[arg-type]
    assert bad.events[0]["resumed"] is False
    err = await bad.next_of("error")
    assert err["code"] == "bad_request" and "since" in err["message"]
    zero = await Client.connect(shared_server, room, since=0)
    assert zero.events[0]["resumed"] is True
    await zero.next_of("room")  # the room's first event (start) is replayed
    for c in (future, bad, zero):
        await c.close()
