"""What a room socket's ``hello`` says about the host's followers: ``room.host.followers`` and
``you.follows_host`` as they are when the socket connects, on any process."""

from __future__ import annotations

from collections.abc import Callable

from tests.support import Client, Http, ServerProc, make_room


async def test_hello_counts_the_hosts_followers_and_says_if_you_are_one(
    start_server: Callable[..., ServerProc],
) -> None:
    a, b = start_server(), start_server()
    room, host = await make_room(a)
    fan = Http(a, a.token(name="Fan", sub="fan"))
    r = await fan.call("PUT", "/api/follows/host")
    assert r.status_code == 200, r.text

    fan_ws = await Client.connect(b, room, fan.token)
    hello = fan_ws.events[0]
    assert hello["room"]["host"] == {"id": "host", "name": "Host", "followers": 1}
    assert hello["you"]["follows_host"] is True

    stranger = await Client.connect(b, room, b.token(name="Stranger", sub="stranger"))
    assert stranger.events[0]["you"]["follows_host"] is False
    host_ws = await Client.connect(a, room, host.token)
    assert host_ws.events[0]["you"]["follows_host"] is False  # nobody follows themselves
    anon = await Client.connect(a, room)
    assert anon.events[0]["you"] is None and anon.events[0]["room"]["host"]["followers"] == 1

    r = await fan.call("DELETE", "/api/follows/host")
    assert r.status_code == 200, r.text
    again = await Client.connect(a, room, fan.token)
    assert again.events[0]["you"]["follows_host"] is False
    assert again.events[0]["room"]["host"]["followers"] == 0
    r = await Http(a).call("GET", f"/api/rooms/{room}")
    assert r.json()["room"]["host"]["followers"] == 0
    for client in (fan_ws, stranger, host_ws, anon, again):
        await client.close()
