"""The personal channel on a three-master Redis Cluster: each process subscribes on the one node its
``redis+cluster://`` URL names, and hears orders taken on every shard."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from kit.procs import ClusterProcs
from tests.live.me_kit import open_me, pin_body
from tests.support import Client, Http, ServerProc, make_room


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterProcs]:
    procs = ClusterProcs(3)
    yield procs
    procs.stop()


async def test_orders_on_every_shard_reach_me_and_my_list(
    cluster: ClusterProcs, start_server: Callable[..., ServerProc]
) -> None:
    a, b = start_server(redis_url=cluster.url), start_server(redis_url=cluster.url)
    rooms = cluster.rooms_on_every_node("me")
    assert len({cluster.room_port(r) for r in rooms}) == 3
    token = a.token(name="Alice", sub="alice")
    me = await open_me(b, token)
    taken: list[str] = []
    for room in rooms:
        await _sale(a, room)
        buyer = await Client.connect(a, room, token)
        ack = await buyer.request({"t": "buy", "id": "b-1", "pin": "p1", "qty": 1})
        assert ack["t"] == "ack", ack
        taken.append(ack["order"]["id"])
        told = (await me.next_of("order"))["order"]
        assert (told["id"], told["room"]) == (taken[-1], room)
        await buyer.close()
    r = await Http(b, token).call("GET", "/api/me/orders?limit=2")
    first = r.json()
    r = await Http(b, token).call("GET", f"/api/me/orders?limit=2&cursor={first['next']}")
    listed = [o["id"] for o in first["orders"] + r.json()["orders"]]
    assert sorted(listed) == sorted(taken) and r.json()["next"] is None
    await me.close()


async def _sale(server: ServerProc, room: str) -> None:
    _, host = await make_room(server, room)
    r = await host.call("POST", f"/api/rooms/{room}/pins", pin_body())
    assert r.status_code == 201, r.text
