"""Share links over HTTP and WebSocket on real processes: the code and link, attribution through
``?share=``, commission on the orders, the host's leaderboard and my commissions."""

from __future__ import annotations

from collections.abc import Callable

from tests.live.me_kit import pin_body
from tests.support import Client, Http, ServerProc, make_room


async def test_a_share_link_brings_a_buyer_whose_order_earns_the_sharer(
    start_server: Callable[..., ServerProc],
) -> None:
    a, b = start_server(), start_server()
    room, host = await make_room(a, title="Tea night")
    r = await host.call("PUT", f"/api/rooms/{room}", {"commission_bp": 750})
    assert r.status_code == 200 and r.json()["commission_bp"] == 750, r.text
    r = await host.call("POST", f"/api/rooms/{room}/pins", pin_body())
    assert r.status_code == 201, r.text

    sue = Http(a, a.token(name="Sue", sub="sue"))
    r = await sue.call("POST", f"/api/rooms/{room}/shares")
    assert r.status_code == 200, r.text
    code, url = r.json()["code"], r.json()["url"]
    assert url == f"{a.url}/watch/{room}?share={code}"
    again = await Http(b, sue.token).call("POST", f"/api/rooms/{room}/shares")  # any process, same code
    assert again.json()["code"] == code

    bob_token = b.token(name="Bob", sub="bob")
    bob = await Client.connect(b, room, bob_token, share=code)
    ack = await bob.request({"t": "buy", "id": "b-1", "pin": "p1", "qty": 2})
    assert ack["t"] == "ack", ack
    order = ack["order"]
    assert order["share"] == {"by": "sue", "commission_cents": order["total_cents"] * 750 // 10000}
    # Sue's own link does not make her earn on her own order.
    sue_ws = await Client.connect(a, room, sue.token, share=code)
    own = await sue_ws.request({"t": "buy", "id": "s-1", "pin": "p1", "qty": 1})
    assert own["t"] == "ack" and "share" not in own["order"], own

    r = await host.call("GET", f"/api/rooms/{room}/shares")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "shares": [
            {
                "user": {"id": "sue", "name": "Sue"},
                "visits": 1,
                "buyers": 1,
                "orders": 1,
                "gmv_cents": order["total_cents"],
                "commission_cents": order["share"]["commission_cents"],
            }
        ]
    }
    csv = (await host.call("GET", f"/api/rooms/{room}/orders?format=csv")).text.splitlines()
    assert csv[0].endswith(",share_by,commission_cents")
    [bob_row] = [line for line in csv if line.startswith(order["id"])]
    assert bob_row.endswith(f",sue,{order['share']['commission_cents']}")
    r = await sue.call("GET", "/api/me/commissions")
    assert r.status_code == 200, r.text
    [mine] = r.json()["rooms"]
    assert mine["room"] == {"id": room, "title": "Tea night"}
    assert (mine["orders"], mine["commission_cents"]) == (1, order["share"]["commission_cents"])
    for client in (bob, sue_ws):
        await client.close()


async def test_who_may_share_and_see_the_leaderboard(start_server: Callable[..., ServerProc]) -> None:
    server = start_server()
    room, _host = await make_room(server)
    viewer = Http(server, server.token(name="Vi", sub="vi"))
    service = Http(server, server.token("service", name="Shop", sub="shop"))
    assert (await Http(server).call("POST", f"/api/rooms/{room}/shares")).status_code == 401
    assert (await service.call("POST", f"/api/rooms/{room}/shares")).json()["error"] == "forbidden"
    assert (await viewer.call("POST", "/api/rooms/nowhere/shares")).status_code == 404
    assert (await viewer.call("GET", f"/api/rooms/{room}/shares")).status_code == 403
    assert (await service.call("GET", f"/api/rooms/{room}/shares")).json() == {"shares": []}
    assert (await viewer.call("GET", "/api/me/commissions")).json() == {"rooms": []}
    # A bad or unknown code on the socket is ignored: the viewer is served as any other.
    for share in ("zzzzzzzzzzzz", "%3Cscript%3E", ""):
        client = await Client.connect(server, room, viewer.token, share=share)
        await client.close()
