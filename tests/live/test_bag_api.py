"""The bag and order endpoints over real HTTP and WebSockets (contract §6, §7): who may do what,
the answers' shapes and codes, and the events viewers see."""

from __future__ import annotations

import asyncio
import time

import jwt
import orjson

from tests.support import Client, Http, ServerProc, make_room

MUG = {"title": "Panda mug", "image_url": "/static/img/panda-mug.svg", "list_price_cents": 3000, "stock": 3}


async def test_products_are_put_listed_and_removed_by_the_host_or_the_shop(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    viewer = Http(shared_server, shared_server.token(name="Vi"))
    shop = Http(shared_server, shared_server.token("service", name="Shop", sub="shop"))
    anyone = Http(shared_server)
    r = await viewer.call("PUT", f"/api/rooms/{room}/products/mug", MUG)
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    assert (await anyone.call("PUT", f"/api/rooms/{room}/products/mug", MUG)).status_code == 401
    r = await host.call("PUT", f"/api/rooms/{room}/products/mug", MUG)
    assert r.status_code == 201
    assert r.json() == {
        "id": "mug",
        "title": "Panda mug",
        "image_url": "/static/img/panda-mug.svg",
        "list_price_cents": 3000,
        "limit_per_user": 5,
        "stock_total": 3,
        "stock_left": 3,
    }
    r = await shop.call(
        "PUT", f"/api/rooms/{room}/products/cap", {**MUG, "title": "Cap", "limit_per_user": 1}
    )
    assert r.status_code == 201 and r.json()["limit_per_user"] == 1
    assert (await host.call("PUT", f"/api/rooms/{room}/products/mug", {**MUG, "stock": 4})).status_code == 200
    listed = (await anyone.call("GET", f"/api/rooms/{room}/products")).json()["products"]
    assert [(p["id"], p["stock_total"]) for p in listed] == [("mug", 4), ("cap", 3)]
    assert (await shop.call("DELETE", f"/api/rooms/{room}/products/cap")).json() == {"ok": True}
    r = await host.call("DELETE", f"/api/rooms/{room}/products/cap")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    snapshot = (await anyone.call("GET", f"/api/rooms/{room}")).json()
    assert [p["id"] for p in snapshot["bag"]] == ["mug"]


async def test_bad_products_are_refused_naming_the_field(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    for body, word in [
        ({**MUG, "stock": -1}, "stock"),
        ({**MUG, "limit_per_user": 0}, "limit_per_user"),
        ({**MUG, "image_url": "javascript:alert(1)"}, "image_url"),
        ({**MUG, "title": ""}, "title"),
        ({**MUG, "colour": "red"}, "colour"),
        ({k: v for k, v in MUG.items() if k != "list_price_cents"}, "list_price_cents"),
    ]:
        r = await host.call("PUT", f"/api/rooms/{room}/products/mug", body)
        assert r.status_code == 400 and word in r.json()["message"], (body, r.text)
    r = await host.call("PUT", f"/api/rooms/{room}/products/bad%20id", MUG)
    assert r.status_code == 400
    assert (await host.call("GET", f"/api/rooms/{room}/products")).json() == {"products": []}


async def test_a_viewer_buys_from_the_bag_and_everyone_sees_the_stock(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    watcher = await Client.connect(shared_server, room)
    await host.call("PUT", f"/api/rooms/{room}/products/mug", MUG)
    event = await watcher.next_of("product")
    assert event["product"]["id"] == "mug" and isinstance(event["seq"], int)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    assert [p["id"] for p in bob.events[0]["bag"]] == ["mug"]
    ack = await bob.request({"t": "buy", "id": "b1", "product": "mug", "qty": 2})
    order = ack["order"]
    assert (order["product"], order["pin"], order["qty"], order["total_cents"], order["state"]) == (
        "mug",
        None,
        2,
        6000,
        "confirmed",
    )
    await watcher.wait_for(lambda e: e.get("t") == "bag_stock" and e["left"].get("mug") == 1)
    refused = await bob.request({"t": "buy", "id": "b2", "product": "mug", "pin": "p1", "qty": 1})
    assert refused["code"] == "bad_request"
    refused = await bob.request({"t": "buy", "id": "b3", "product": "hat", "qty": 1})
    assert refused["code"] == "no_such_product"
    shop = await Client.connect(shared_server, room, shared_server.token("service", name="Shop", sub="shop"))
    refused = await shop.request({"t": "buy", "id": "s1", "product": "mug", "qty": 1})
    assert refused["code"] == "forbidden"  # the shop's backend cannot buy (contract §1)
    refused = await shop.request({"t": "chat", "id": "s2", "text": "hello"})
    assert refused["code"] == "forbidden"
    await host.call("POST", f"/api/rooms/{room}/stop")
    # The replay goes on selling the bag at list price (contract §12).
    ack = await bob.request({"t": "buy", "id": "b4", "product": "mug", "qty": 1})
    assert ack["t"] == "ack" and ack["order"]["unit_price_cents"] == 3000
    for client in (watcher, bob, shop):
        await client.close()


async def test_a_reserved_order_is_confirmed_by_the_shop_only(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    await host.call("PUT", f"/api/rooms/{room}", {"title": "Show", "pay_within_s": 120})
    await host.call("PUT", f"/api/rooms/{room}/products/mug", MUG)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    assert bob.events[0]["room"]["pay_within_s"] == 120
    order = (await bob.request({"t": "buy", "id": "b1", "product": "mug", "qty": 1}))["order"]
    assert order["state"] == "reserved" and order["pay_by_ms"] >= order["ts_ms"] + 120_000
    path = f"/api/rooms/{room}/orders/{order['id']}"
    r = await host.call("POST", f"{path}/confirm")
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    shop = Http(shared_server, shared_server.token("service", name="Shop", sub="shop"))
    confirmed = await shop.call("POST", f"{path}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "confirmed"
    assert (await shop.call("POST", f"{path}/confirm")).json() == confirmed.json()
    r = await shop.call("POST", f"{path}/cancel")
    assert (r.status_code, r.json()["error"]) == (409, "conflict")
    r = await shop.call("POST", f"/api/rooms/{room}/orders/o-nope/confirm")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    orders = (await shop.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
    assert [(o["id"], o["state"], o["version"]) for o in orders] == [(order["id"], "confirmed", 2)]
    stats = (await shop.call("GET", f"/api/rooms/{room}/stats")).json()
    assert stats["orders_by_state"] == {"reserved": 0, "confirmed": 1, "cancelled": 0, "expired": 0}
    await bob.close()


async def test_the_buyer_cancels_their_own_reserved_order_and_nobody_elses(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    await host.call("PUT", f"/api/rooms/{room}", {"title": "Show", "pay_within_s": 120})
    await host.call("PUT", f"/api/rooms/{room}/products/mug", {**MUG, "stock": 1})
    bob_token = shared_server.token(name="Bob", sub="bob")
    bob = await Client.connect(shared_server, room, bob_token)
    order = (await bob.request({"t": "buy", "id": "b1", "product": "mug", "qty": 1}))["order"]
    path = f"/api/rooms/{room}/orders/{order['id']}/cancel"
    ann = Http(shared_server, shared_server.token(name="Ann", sub="ann"))
    assert (await ann.call("POST", path)).status_code == 403
    r = await Http(shared_server, bob_token).call("POST", path)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    # The unit is back (bag_stock is ephemeral: a poll may never have seen it at 0, so the REST view).
    [mug] = (await host.call("GET", f"/api/rooms/{room}/products")).json()["products"]
    assert mug["stock_left"] == 1
    again = await bob.request({"t": "buy", "id": "b2", "product": "mug", "qty": 1})
    assert again["order"]["state"] == "reserved"
    await bob.close()


async def test_unpaid_orders_expire_on_time_and_the_pin_comes_back(start_server: object) -> None:
    server: ServerProc = start_server()  # type: ignore[operator]
    room, host = await make_room(server)
    await host.call("PUT", f"/api/rooms/{room}", {"title": "Show", "pay_within_s": 1})
    pin = {
        "id": "p1",
        "product": {"id": "mug", "title": "Mug", "list_price_cents": 3000},
        "stock": 1,
        "duration_s": 60,
        "tiers": [{"at": 0, "price_cents": 2000}],
    }
    assert (await host.call("POST", f"/api/rooms/{room}/pins", pin)).status_code == 201
    bob = await Client.connect(server, room, server.token(name="Bob", sub="bob"))
    await bob.request({"t": "buy", "id": "b1", "pin": "p1", "qty": 1})
    bob.rewind(0)  # sold_out and the ack may come in either order
    await bob.next_of("sold_out")
    back = await bob.wait_for(lambda e: e.get("t") == "pin" and e["pin"]["state"] == "live", timeout=15)
    assert back["pin"]["stock_left"] == 1
    [order] = orjson.loads((await host.call("GET", f"/api/rooms/{room}/orders")).content)["orders"]
    assert order["state"] == "expired"
    await bob.close()


async def test_the_room_id_me_is_kept_for_the_personal_channel(shared_server: ServerProc) -> None:
    host = Http(shared_server, shared_server.token("host", "me", name="Host", sub="host"))
    r = await host.call("PUT", "/api/rooms/me", {"title": "Mine"})
    assert (r.status_code, r.json()["error"]) == (400, "bad_request") and "reserved" in r.json()["message"]


async def test_a_service_token_takes_no_room(shared_server: ServerProc) -> None:
    r = await Http(shared_server).call(
        "POST", "/api/dev/token", {"name": "Shop", "role": "service", "room": "x"}
    )
    assert r.status_code == 400
    r = await Http(shared_server).call("POST", "/api/dev/token", {"name": "Shop", "role": "service"})
    shop = Http(shared_server, r.json()["token"])
    room, _host = await make_room(shared_server)
    assert (await shop.call("GET", f"/api/rooms/{room}/stats")).status_code == 200
    claims = {"sub": "shop", "name": "Shop", "role": "service", "room": "x", "exp": int(time.time()) + 60}
    with_room = jwt.encode(claims, shared_server.secret, algorithm="HS256")  # make_token refuses it
    r = await Http(shared_server, with_room).call("GET", f"/api/rooms/{room}/stats")
    assert (r.status_code, r.json()["error"]) == (401, "unauthorized")


async def test_a_show_not_started_sells_nothing_from_its_bag(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server, start=False)
    await host.call("PUT", f"/api/rooms/{room}/products/mug", MUG)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    refused = await bob.request({"t": "buy", "id": "b1", "product": "mug", "qty": 1})
    assert refused["code"] == "not_live"
    await bob.close()


async def test_an_unpaid_order_from_a_replay_still_expires(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    await host.call("PUT", f"/api/rooms/{room}", {"title": "Show", "pay_within_s": 1})
    await host.call("PUT", f"/api/rooms/{room}/products/mug", MUG)
    await host.call("POST", f"/api/rooms/{room}/stop")
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    order = (await bob.request({"t": "buy", "id": "b1", "product": "mug", "qty": 1}))["order"]
    assert order["state"] == "reserved"
    deadline = time.monotonic() + 20
    while True:
        [now] = (await host.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
        if now["state"] == "expired":
            break
        assert time.monotonic() < deadline, now
        await asyncio.sleep(0.2)
    listed = (await host.call("GET", f"/api/rooms/{room}/products")).json()["products"]
    assert listed[0]["stock_left"] == MUG["stock"]  # the unit went back to the bag
    await bob.close()
