"""The personal channel end to end: real buys, confirms and cancels tell the buyer's ``/ws/me`` on
another process, and ``GET /api/me/orders`` lists what they did."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.live.me_kit import open_me, pin_body
from tests.support import Client, Http, ServerProc, make_room


async def _shop(server: ServerProc, pay_within_s: int) -> tuple[str, Http]:
    room, host = await make_room(server)
    r = await host.call("PUT", f"/api/rooms/{room}", {"title": "Show", "pay_within_s": pay_within_s})
    assert r.status_code == 200, r.text
    r = await host.call("POST", f"/api/rooms/{room}/pins", pin_body())
    assert r.status_code == 201, r.text
    return room, host


async def _my_orders(server: ServerProc, token: str) -> list[dict[str, Any]]:
    r = await Http(server, token).call("GET", "/api/me/orders")
    assert r.status_code == 200, r.text
    return list(r.json()["orders"])


async def test_a_buy_and_its_confirm_reach_the_buyer_on_another_process(
    start_server: Callable[..., ServerProc],
) -> None:
    a, b = start_server(), start_server()
    room, _ = await _shop(a, pay_within_s=600)
    token = a.token(name="Alice", sub="alice")
    me = await open_me(b, token)
    other = await open_me(b, b.token(name="Bob", sub="bob"))
    buyer = await Client.connect(a, room, token)
    ack = await buyer.request({"t": "buy", "id": "b-1", "pin": "p1", "qty": 2})
    assert ack["t"] == "ack", ack
    oid = ack["order"]["id"]

    reserved = (await me.next_of("order"))["order"]
    assert (reserved["id"], reserved["state"], reserved["version"]) == (oid, "reserved", 1)
    assert (reserved["user"], reserved["qty"], reserved["room"], reserved["refund_cents"]) == (
        "alice",
        2,
        room,
        0,
    )
    assert reserved["pay_by_ms"] is not None
    assert await _my_orders(a, token) == [reserved]

    shop = Http(a, a.token("service", name="Shop", sub="shop"))
    r = await shop.call("POST", f"/api/rooms/{room}/orders/{oid}/confirm")
    assert r.status_code == 200, r.text
    confirmed = (await me.next_of("order"))["order"]
    assert (confirmed["id"], confirmed["state"], confirmed["version"]) == (oid, "confirmed", 2)
    assert await _my_orders(b, token) == [confirmed]
    # A replayed request id is the same order, not a second one (and not a second index entry).
    again = await buyer.request({"t": "buy", "id": "b-1", "pin": "p1", "qty": 2})
    assert again["order"]["id"] == oid
    assert [o["id"] for o in await _my_orders(a, token)] == [oid]
    assert not [e for e in other.events if e.get("t") == "order"]
    for client in (me, other, buyer):
        await client.close()


async def test_cancels_by_the_buyer_and_the_shop_and_a_refused_buy(
    start_server: Callable[..., ServerProc],
) -> None:
    a, b = start_server(), start_server()
    room, _ = await _shop(a, pay_within_s=600)
    token = a.token(name="Alice", sub="alice")
    me = await open_me(b, token)
    buyer = await Client.connect(a, room, token)
    first = (await buyer.request({"t": "buy", "id": "b-1", "pin": "p1", "qty": 1}))["order"]
    assert (await me.next_of("order"))["order"]["id"] == first["id"]
    # Over the per-user limit: refused, so nothing on /ws/me and nothing in the list.
    refused = await buyer.request({"t": "buy", "id": "b-2", "pin": "p1", "qty": 5})
    assert refused["t"] == "error" and refused["code"] == "limit_reached", refused
    r = await Http(a, token).call("POST", f"/api/rooms/{room}/orders/{first['id']}/cancel")
    assert r.status_code == 200, r.text
    cancelled = (await me.next_of("order"))["order"]
    assert (cancelled["id"], cancelled["state"], cancelled["version"]) == (first["id"], "cancelled", 2)
    # The shop cancels another one.
    second = (await buyer.request({"t": "buy", "id": "b-3", "pin": "p1", "qty": 1}))["order"]
    assert (await me.next_of("order"))["order"]["state"] == "reserved"
    shop = Http(a, a.token("service", name="Shop", sub="shop"))
    r = await shop.call("POST", f"/api/rooms/{room}/orders/{second['id']}/cancel")
    assert r.status_code == 200, r.text
    by_shop = (await me.next_of("order"))["order"]
    assert (by_shop["id"], by_shop["state"], by_shop["version"]) == (second["id"], "cancelled", 2)
    states = [(e["order"]["id"], e["order"]["state"]) for e in me.events if e.get("t") == "order"]
    assert states == [
        (first["id"], "reserved"),
        (first["id"], "cancelled"),
        (second["id"], "reserved"),
        (second["id"], "cancelled"),
    ]
    assert [o["id"] for o in await _my_orders(b, token)] == [second["id"], first["id"]]
    assert (await _my_orders(b, token))[1] == cancelled
    for client in (me, buyer):
        await client.close()


async def test_an_order_born_confirmed_is_told_once(start_server: Callable[..., ServerProc]) -> None:
    a = start_server()
    room, _ = await _shop(a, pay_within_s=0)
    token = a.token(name="Alice", sub="alice")
    me = await open_me(a, token)
    buyer = await Client.connect(a, room, token)
    oid = (await buyer.request({"t": "buy", "id": "b-1", "pin": "p1", "qty": 1}))["order"]["id"]
    told = (await me.next_of("order"))["order"]
    assert (told["id"], told["state"], told["version"], told["pay_by_ms"]) == (oid, "confirmed", 1, None)
    assert await _my_orders(a, token) == [told]
    for client in (me, buyer):
        await client.close()
