"""Flash-sale pins over HTTP and WebSocket: validation, lifecycle, tiers, price protection."""

from __future__ import annotations

import asyncio
import copy
import csv
import io
from typing import Any

import pytest

from tests.support import Client, Http, ServerProc, make_room

PIN: dict[str, Any] = {
    "product": {
        "id": "mug-1",
        "title": "Panda mug",
        "image_url": "https://x.test/m.png",
        "list_price_cents": 3000,
    },
    "stock": 100,
    "limit_per_user": 2,
    "starts_in_s": 0,
    "duration_s": 120,
    "tiers": [{"at": 0, "price_cents": 2500}, {"at": 3, "price_cents": 2000}, {"at": 6, "price_cents": 1500}],
    "count": "posters",
    "price_protection": True,
}


def pin_body(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(PIN)
    body.update(changes)
    return body


async def test_pin_is_created_and_announced(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    viewer = await Client.connect(shared_server, room)
    r = await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1"))
    assert r.status_code == 201
    pin = r.json()
    assert (
        pin["id"] == "p1"
        and pin["state"] == "live"
        and pin["stock_left"] == 100
        and pin["price_cents"] == 2500
    )
    assert pin["tier"] == 0 and pin["count"] == 0 and pin["count_mode"] == "posters"
    assert pin["ends_at_ms"] - pin["starts_at_ms"] == 120_000
    event = await viewer.next_of("pin")
    assert event["pin"] == pin
    assert (await Http(shared_server).call("GET", f"/api/rooms/{room}")).json()["pin"] == pin
    late = await Client.connect(shared_server, room)
    assert late.events[0]["pin"]["id"] == "p1"
    await viewer.close()
    await late.close()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stock": 0}, "stock"),
        ({"stock": "5"}, "stock"),
        ({"limit_per_user": 0}, "limit_per_user"),
        ({"starts_in_s": -5}, "starts_in_s"),
        ({"duration_s": 0}, "duration_s"),
        ({"count": "likes"}, "count"),
        ({"price_protection": 1}, "price_protection"),
        ({"tiers": []}, "tiers"),
        ({"tiers": [{"at": 1, "price_cents": 100}]}, "tiers[0].at"),
        ({"tiers": [{"at": 0, "price_cents": 100}, {"at": 0, "price_cents": 90}]}, "tiers[1].at"),
        ({"tiers": [{"at": 0, "price_cents": 100}, {"at": 5, "price_cents": 200}]}, "tiers[1].price_cents"),
        ({"product": {"id": "m", "title": "x"}}, "product.list_price_cents"),
        ({"product": {"id": "m m", "title": "x", "list_price_cents": 1}}, "product.id"),
        ({"id": "bad id!"}, "id"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_invalid_pin_bodies_name_the_field(
    shared_server: ServerProc, change: dict[str, Any], field: str
) -> None:
    room, host = await make_room(shared_server)
    r = await host.call("POST", f"/api/rooms/{room}/pins", pin_body(**change))
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    assert field in r.json()["message"]
    assert (await Http(shared_server).call("GET", f"/api/rooms/{room}")).json()["pin"] is None


async def test_pin_body_not_json(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    r = await host.call("POST", f"/api/rooms/{room}/pins", raw=b"{oops")
    assert (r.status_code, r.json()["error"]) == (400, "bad_request")


async def test_one_pin_at_a_time(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    viewer = await Client.connect(shared_server, room)
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1"))
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p2"))
    await viewer.wait_for(lambda e: e["t"] == "pin" and e["pin"]["id"] == "p2")
    sale_events = [(e["t"], e["pin"] if e["t"] == "pin_end" else e["pin"]["id"]) for e in viewer.durable()]
    assert sale_events == [("pin", "p1"), ("pin_end", "p1"), ("pin", "p2")]
    end = next(e for e in viewer.durable() if e["t"] == "pin_end")
    assert end["sold"] == 0 and end["final_price_cents"] == 2500
    r = await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1"))
    assert (r.status_code, r.json()["error"]) == (409, "conflict")  # ids are not reused in a room
    await viewer.close()


async def test_delete_ends_now_and_buying_then_says_ended(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1"))
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    r = await host.call("DELETE", f"/api/rooms/{room}/pins/p1")
    assert r.status_code == 200 and r.json()["state"] == "ended"
    await bob.next_of("pin_end", pin="p1")
    err = await bob.request({"t": "buy", "id": "b1", "pin": "p1", "qty": 1})
    assert err["code"] == "ended"
    r = await host.call("DELETE", f"/api/rooms/{room}/pins/nope")
    assert (r.status_code, r.json()["error"]) == (404, "no_such_pin")
    r = await host.call("DELETE", f"/api/rooms/{room}/pins/p1")  # again: idempotent, no second pin_end
    assert r.status_code == 200
    await asyncio.sleep(0.5)
    assert sum(e["t"] == "pin_end" for e in bob.events) == 1
    await bob.close()


async def test_upcoming_then_live_then_ended_by_time(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    r = await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1", starts_in_s=1, duration_s=1))
    assert r.json()["state"] == "upcoming"
    err = await bob.request({"t": "buy", "id": "b1", "pin": "p1", "qty": 1})
    assert err["code"] == "not_started" and 0 < err["retry_after_ms"] <= 1000
    live = await bob.wait_for(lambda e: e["t"] == "pin" and e["pin"]["state"] == "live", timeout=5)
    assert live["pin"]["id"] == "p1"
    assert (await bob.request({"t": "buy", "id": "b2", "pin": "p1", "qty": 1}))["t"] == "ack"
    end = await bob.next_of("pin_end", timeout=5)
    assert end["sold"] == 1
    assert (await bob.request({"t": "buy", "id": "b3", "pin": "p1", "qty": 1}))["code"] == "ended"
    await asyncio.sleep(0.6)
    assert sum(e["t"] == "pin_end" for e in bob.events) == 1
    await bob.close()


async def test_pin_ends_by_time_with_nobody_watching(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1", duration_s=1))
    await asyncio.sleep(1.8)
    viewer = await Client.connect(shared_server, room, since=0)
    end = await viewer.next_of("pin_end")
    assert end["pin"] == "p1"
    assert viewer.events[0]["pin"]["state"] == "ended"
    await viewer.close()


async def test_buy_errors(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    assert (await bob.request({"t": "buy", "id": "b0", "pin": "p1", "qty": 1}))["code"] == "no_such_pin"
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1", stock=3, limit_per_user=2))
    ack = await bob.request({"t": "buy", "id": "b1", "pin": "p1", "qty": 2})
    order = ack["order"]
    assert order["qty"] == 2 and order["unit_price_cents"] == 2500 and order["total_cents"] == 5000
    assert order["pin"] == "p1" and order["user"] == "bob" and order["tier"] == 0 and order["id"]
    assert (await bob.request({"t": "buy", "id": "b2", "pin": "p1", "qty": 1}))["code"] == "limit_reached"
    ann = await Client.connect(shared_server, room, shared_server.token(name="Ann", sub="ann"))
    assert (await ann.request({"t": "buy", "id": "a1", "pin": "p1", "qty": 2}))[
        "code"
    ] == "sold_out"  # 1 left
    mark = len(ann.events)
    assert (await ann.request({"t": "buy", "id": "a2", "pin": "p1", "qty": 1}))["t"] == "ack"
    ann.rewind(mark)  # the sold_out event and the ack may come in either order
    assert (await ann.next_of("sold_out"))["pin"] == "p1"
    cy = await Client.connect(shared_server, room, shared_server.token(name="Cy", sub="cy"))
    assert (await cy.request({"t": "buy", "id": "c1", "pin": "p1", "qty": 1}))["code"] == "sold_out"
    ann.rewind(mark)
    await ann.wait_for(lambda e: e["t"] == "stock" and e["left"] == 0)
    for c in (bob, ann, cy):
        await c.close()


async def test_idempotent_buy_also_after_reconnect(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1", stock=10, limit_per_user=5))
    token = shared_server.token(name="Bob", sub="bob")
    bob = await Client.connect(shared_server, room, token)
    first = await bob.request({"t": "buy", "id": "b-7f3a", "pin": "p1", "qty": 1})
    again = await bob.request({"t": "buy", "id": "b-7f3a", "pin": "p1", "qty": 1})
    assert first["order"] == again["order"]
    await bob.close()
    bob2 = await Client.connect(shared_server, room, token)
    third = await bob2.request({"t": "buy", "id": "b-7f3a", "pin": "p1", "qty": 1})
    assert third["order"] == first["order"]
    # Same request id from another user is another request.
    ann = await Client.connect(shared_server, room, shared_server.token(name="Ann", sub="ann"))
    other = await ann.request({"t": "buy", "id": "b-7f3a", "pin": "p1", "qty": 1})
    assert other["order"]["id"] != first["order"]["id"]
    orders = (await host.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
    assert len(orders) == 2
    await bob2.close()
    await ann.close()


async def test_per_user_limit_across_connections_and_processes(start_server) -> None:  # type: ignore[no-untyped-def]
    a, b = start_server(), start_server()
    room, host = await make_room(a)
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1", stock=100, limit_per_user=3))
    token = a.token(name="Bob", sub="bob")
    conns = [await Client.connect(server, room, token) for server in (a, b, a, b, a, b)]
    answers = await asyncio.gather(
        *(
            c.request({"t": "buy", "id": f"b{i}-{j}", "pin": "p1", "qty": 1})
            for i, c in enumerate(conns)
            for j in range(3)
        )
    )
    assert sum(x["t"] == "ack" for x in answers) == 3
    assert {x["code"] for x in answers if x["t"] == "error"} == {"limit_reached"}
    for c in conns:
        await c.close()


@pytest.mark.parametrize("mode", ["posts", "posters"])
async def test_tiers_fall_exactly_once_each_under_concurrent_posting(start_server, mode: str) -> None:  # type: ignore[no-untyped-def]
    env = {"LIVE_CHAT_RATE_POSTS": "0", "LIVE_FRAMES_PER_S": "0"}
    a, b = start_server(env=env), start_server(env=env)
    room, host = await make_room(a)
    tiers = [
        {"at": 0, "price_cents": 1000},
        {"at": 5, "price_cents": 900},
        {"at": 12, "price_cents": 800},
        {"at": 20, "price_cents": 700},
    ]
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1", tiers=tiers, count=mode))
    watcher = await Client.connect(b, room)
    users = [
        await Client.connect(a if i % 2 else b, room, a.token(name=f"U{i}", sub=f"u{i}")) for i in range(24)
    ]

    async def chat(i: int, client: Client) -> None:
        for j in range(3):  # three posts each: "posts" counts 72, "posters" counts 24
            await client.request({"t": "chat", "id": f"c{j}", "text": f"u{i} says {j}"})

    await asyncio.gather(*(chat(i, c) for i, c in enumerate(users)))
    await watcher.wait_for(lambda e: e["t"] == "price" and e["tier"] == 3, timeout=10)
    await asyncio.sleep(0.5)
    prices = [e for e in watcher.events if e["t"] == "price"]
    assert [(p["tier"], p["price_cents"]) for p in prices] == [(1, 900), (2, 800), (3, 700)]
    assert [p["count"] for p in prices] == [5, 12, 20]
    snap = (await Http(a).call("GET", f"/api/rooms/{room}")).json()["pin"]
    assert snap["count"] == (72 if mode == "posts" else 24) and snap["price_cents"] == 700
    progress = [e for e in watcher.events if e["t"] == "progress"]
    assert progress and progress[-1]["count"] == snap["count"] and progress[-1]["next_at"] is None
    for c in (watcher, *users):
        await c.close()


async def test_order_price_is_the_tier_in_force_and_protection_refunds(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    tiers = [{"at": 0, "price_cents": 2500}, {"at": 2, "price_cents": 2000}, {"at": 3, "price_cents": 1500}]
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1", tiers=tiers, limit_per_user=5))
    clients = [
        await Client.connect(shared_server, room, shared_server.token(name=f"U{i}", sub=f"u{i}"))
        for i in range(3)
    ]
    await clients[0].wait_for(lambda e: e["t"] == "viewers" and e["n"] == 3)
    first = (await clients[0].request({"t": "buy", "id": "b1", "pin": "p1", "qty": 2}))["order"]
    assert (first["unit_price_cents"], first["tier"]) == (2500, 0)
    await clients[0].request({"t": "chat", "id": "c1", "text": "cheaper please"})
    await clients[1].request({"t": "chat", "id": "c1", "text": "yes!"})
    second = (await clients[1].request({"t": "buy", "id": "b1", "pin": "p1", "qty": 1}))["order"]
    assert (second["unit_price_cents"], second["tier"]) == (2000, 1)
    await clients[2].request({"t": "chat", "id": "c1", "text": "me too"})
    third = (await clients[2].request({"t": "buy", "id": "b1", "pin": "p1", "qty": 1}))["order"]
    assert (third["unit_price_cents"], third["total_cents"]) == (1500, 1500)
    await host.call("DELETE", f"/api/rooms/{room}/pins/p1")
    end = await clients[0].next_of("pin_end")
    assert end["final_price_cents"] == 1500 and end["sold"] == 4
    orders = {o["id"]: o for o in (await host.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]}
    assert orders[first["id"]]["refund_cents"] == 2000
    assert orders[second["id"]]["refund_cents"] == 500
    assert orders[third["id"]]["refund_cents"] == 0
    # The buyer sees the refund when re-sending its request id.
    again = (await clients[0].request({"t": "buy", "id": "b1", "pin": "p1", "qty": 2}))["order"]
    assert again["refund_cents"] == 2000
    csv = (await host.call("GET", f"/api/rooms/{room}/orders?format=csv")).text.splitlines()
    # v1's columns first, in v1's order; v1.1's after them.
    assert csv[0] == (
        "id,pin,user,qty,unit_price_cents,total_cents,tier,ts_ms,refund_cents,name,"
        "room,product,state,pay_by_ms,version,title,share_by,commission_cents"
    )
    assert len(csv) == 4 and any(line.startswith(first["id"]) and ",2000,U0," in line for line in csv)
    stats = (await host.call("GET", f"/api/rooms/{room}/stats")).json()
    assert stats["orders"] == 3 and stats["units"] == 4 and stats["gmv_cents"] == 5000 + 2000 + 1500
    assert stats["buyers"] == 3 and stats["refund_cents"] == 2500 and stats["chat_posts"] == 3
    assert stats["unique_viewers"] == 3 and stats["peak_viewers"] == 3
    for c in clients:
        await c.close()


async def test_without_protection_no_refund(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    tiers = [{"at": 0, "price_cents": 2500}, {"at": 1, "price_cents": 2000}]
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1", tiers=tiers, price_protection=False))
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    await bob.request({"t": "buy", "id": "b1", "pin": "p1", "qty": 1})
    await bob.request({"t": "chat", "id": "c1", "text": "go lower"})
    await host.call("DELETE", f"/api/rooms/{room}/pins/p1")
    orders = (await host.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
    assert [o["refund_cents"] for o in orders] == [0]
    await bob.close()


async def test_pin_in_missing_or_ended_room(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    await host.call("POST", f"/api/rooms/{room}/stop")
    r = await host.call("POST", f"/api/rooms/{room}/pins", pin_body())
    assert (r.status_code, r.json()["error"]) == (409, "conflict")
    ghost = Http(shared_server, shared_server.token("host", "ghost-room-x", name="G"))
    r = await ghost.call("POST", "/api/rooms/ghost-room-x/pins", pin_body())
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


async def test_stopping_the_show_ends_its_sale(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="p1"))
    bob = await Client.connect(shared_server, room, shared_server.token(name="Bob", sub="bob"))
    assert (await bob.request({"t": "buy", "id": "b1", "pin": "p1", "qty": 1}))["t"] == "ack"
    assert (await host.call("POST", f"/api/rooms/{room}/stop")).json()["status"] == "ended"
    end = await bob.next_of("pin_end", pin="p1")
    await bob.next_of("room", status="ended")
    assert end["sold"] == 1
    snap = (await Http(shared_server).call("GET", f"/api/rooms/{room}")).json()
    assert snap["pin"]["state"] == "ended"
    ann = await Client.connect(shared_server, room, shared_server.token(name="Ann", sub="ann"))
    assert (await ann.request({"t": "buy", "id": "a1", "pin": "p1", "qty": 1}))["code"] == "ended"
    await bob.close()
    await ann.close()


async def test_orders_carry_names_and_the_csv_is_safe_in_a_spreadsheet(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    await host.call("POST", f"/api/rooms/{room}/pins", pin_body(id="-p1", stock=5))
    name = '=HYPERLINK("http://x.test","ok")'
    eve = await Client.connect(shared_server, room, shared_server.token(name=name, sub="-eve"))
    ack = await eve.request({"t": "buy", "id": "b1", "pin": "-p1", "qty": 1})
    assert ack["order"]["name"] == name and ack["order"]["user"] == "-eve"
    [order] = (await host.call("GET", f"/api/rooms/{room}/orders")).json()["orders"]
    assert order["name"] == name  # the JSON is data, not a spreadsheet: unchanged
    rows = list(
        csv.reader(io.StringIO((await host.call("GET", f"/api/rooms/{room}/orders?format=csv")).text))
    )
    assert rows[0][9] == "name"
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["pin"], row["user"], row["name"]) == ("'-p1", "'-eve", "'" + name)
    assert row["qty"] == "1" and row["id"] == order["id"]  # server values are left alone
    await eve.close()
