"""Go-live notices end to end: a room that goes live tells, on /ws/me, every follower of its host
and everyone reminded of it, on whichever process they are connected, once; nobody else."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.live.me_kit import open_me
from tests.support import Client, Http, ServerProc, make_room


def lives(client: Client) -> list[dict[str, object]]:
    return [e for e in client.events if e.get("t") == "live"]


async def test_followers_and_the_reminded_hear_it_once_on_any_process(
    start_server: Callable[..., ServerProc],
) -> None:
    a, b = start_server(), start_server()
    room, host = await make_room(a, start=False, title="Tea night")
    users = {
        name: Http(a, a.token(name=name.title(), sub=name))
        for name in ("alice", "bob", "carol", "dave", "eve")
    }
    for name in ("alice", "carol", "dave"):
        r = await users[name].call("PUT", "/api/follows/host")
        assert r.status_code == 200, r.text
    for name in ("bob", "carol"):
        r = await users[name].call("PUT", f"/api/rooms/{room}/reminder")
        assert r.status_code == 200, r.text
    r = await users["dave"].call("DELETE", "/api/follows/host")
    assert r.status_code == 200 and r.json()["following"] is False, r.text

    sockets = {name: await open_me(b, users[name].token or "") for name in users}
    alice_on_a = await open_me(a, users["alice"].token or "")  # a second device, another process
    r = await host.call("POST", f"/api/rooms/{room}/start")
    assert r.status_code == 200, r.text

    expected = {"id": room, "title": "Tea night", "host": {"id": "host", "name": "Host"}}
    for client in (sockets["alice"], sockets["bob"], sockets["carol"], alice_on_a):
        event = await client.next_of("live", timeout=10)
        assert event["room"] == expected
    r = await host.call("POST", f"/api/rooms/{room}/start")  # a retry of the start tells nobody again
    assert r.status_code == 200, r.text
    # Whatever would arrive late: the pings below come back after any frame queued before them.
    for client in [*sockets.values(), alice_on_a]:
        await client.send({"t": "ping"})
        await client.next_of("pong", timeout=10)
    await asyncio.sleep(0.5)
    counts = {name: len(lives(client)) for name, client in sockets.items()}
    assert counts == {"alice": 1, "bob": 1, "carol": 1, "dave": 0, "eve": 0}
    assert len(lives(alice_on_a)) == 1
    for client in [*sockets.values(), alice_on_a]:
        await client.close()
