"""Drops over HTTP and WebSocket on real processes: the host's drop, ``drop``/``drop_left``/``drop_end``
to every viewer, grabs with every error of §10, the wallet on /ws/me, coupons applied in a buy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import websockets

from tests.live.me_kit import pin_body
from tests.support import Client, Http, ServerProc, make_room

ENVELOPE = {"kind": "envelope", "count": 3, "total_cents": 300, "duration_s": 30}


async def test_a_host_drops_envelopes_that_viewers_on_any_process_grab_into_their_wallets(
    start_server: Callable[..., ServerProc],
) -> None:
    a, b = start_server(), start_server()
    room, host = await make_room(a, title="Drops")
    viewers = [await Client.connect([a, b][i % 2], room, [a, b][i % 2].token(sub=f"v{i}")) for i in range(4)]
    anon = await Client.connect(b, room)
    me_ws = await websockets.connect(f"{b.ws_url}/ws/me?token={b.token(sub='v0')}")

    bad = await host.call("POST", f"/api/rooms/{room}/drops", {**ENVELOPE, "total_cents": 2})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request", bad.text
    viewer_try = await Http(a, a.token(sub="v1")).call("POST", f"/api/rooms/{room}/drops", ENVELOPE)
    assert viewer_try.status_code == 403, viewer_try.text
    r = await host.call("POST", f"/api/rooms/{room}/drops", ENVELOPE)
    assert r.status_code == 201, r.text
    drop = r.json()
    assert drop["kind"] == "envelope" and drop["left"] == 3 and drop["total_cents"] == 300
    again = await host.call("POST", f"/api/rooms/{room}/drops", ENVELOPE)
    assert again.status_code == 409 and again.json()["error"] == "conflict", again.text

    for v in viewers:
        assert (await v.next_of("drop"))["drop"] == drop
    told = await anon.request({"t": "grab", "id": "g1", "drop": drop["id"]})
    assert told["t"] == "error" and told["code"] == "unauthorized" and told["id"] == "g1"
    unknown = await viewers[0].request({"t": "grab", "id": "g0", "drop": "d-00000000"})
    assert unknown["code"] == "no_such_drop", unknown

    acks = [await v.request({"t": "grab", "id": "g1", "drop": drop["id"]}) for v in viewers[:3]]
    cents = [ack["envelope"]["cents"] for ack in acks]
    assert all(c >= 1 for c in cents) and sum(cents) == 300, acks
    late = await viewers[3].request({"t": "grab", "id": "g1", "drop": drop["id"]})
    assert late["code"] == "gone", late
    twice = await viewers[0].request({"t": "grab", "id": "g2", "drop": drop["id"]})
    assert twice["code"] == "limit_reached", twice
    # After a reconnect, the same request id gets the same answer and nothing more.
    await viewers[0].close()
    back = await Client.connect(a, room, a.token(sub="v0"))
    assert await back.request({"t": "grab", "id": "g1", "drop": drop["id"]}) == acks[0]

    for v in viewers[1:]:
        v.rewind(0)  # drop_end and the acks have no promised order
        end = await v.next_of("drop_end")
        assert end == {"t": "drop_end", "seq": end["seq"], "drop": drop["id"], "claimed": 3}
        assert len([e for e in v.durable() if e["t"] == "drop_end"]) == 1
    wallet_event = await asyncio.wait_for(me_ws.recv(), 10)
    assert wallet_event == f'[{{"t":"wallet","cents":{cents[0]}}}]'
    await me_ws.close()
    v0 = Http(b, b.token(sub="v0"))
    wallet = (await v0.call("GET", "/api/me/wallet")).json()
    assert wallet["cents"] == cents[0] and [e["drop"] for e in wallet["entries"]] == [drop["id"]]

    seen = await host.call("GET", f"/api/rooms/{room}/drops/{drop['id']}")
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["state"] == "ended" and body["claimed"] == 3 and body["left_cents"] == 0
    assert [(g["user"]["id"], g["cents"]) for g in body["grabs"]] == list(
        zip(["v0", "v1", "v2"], cents, strict=True)
    )
    assert (await v0.call("GET", f"/api/rooms/{room}/drops/{drop['id']}")).status_code == 403
    missing = await host.call("GET", f"/api/rooms/{room}/drops/d-ffffffff")
    assert missing.status_code == 404 and missing.json()["error"] == "no_such_drop"
    listed = (await host.call("GET", f"/api/rooms/{room}/drops")).json()["drops"]
    assert [d["id"] for d in listed] == [drop["id"]]
    late_viewer = await Client.connect(b, room)
    hello = late_viewer.events[0]
    assert hello["drop"]["id"] == drop["id"] and hello["drop"]["state"] == "ended"
    for v in [late_viewer, back, anon, *viewers[1:]]:
        await v.close()


async def test_tasks_are_enforced_over_the_socket(start_server: Callable[..., ServerProc]) -> None:
    a = start_server()
    room, host = await make_room(a)
    host_id = (await host.call("GET", f"/api/rooms/{room}")).json()["room"]["host"]["id"]
    r = await host.call("POST", f"/api/rooms/{room}/drops", {**ENVELOPE, "task": "follow"})
    assert r.status_code == 201, r.text
    drop = r.json()
    bob = await Client.connect(a, room, a.token(sub="bob"))
    refused = await bob.request({"t": "grab", "id": "g1", "drop": drop["id"]})
    assert refused["code"] == "task_required" and "follow" in refused["message"], refused
    r = await Http(a, a.token(sub="bob")).call("PUT", f"/api/follows/{host_id}")
    assert r.status_code in (200, 204), r.text
    assert (await bob.request({"t": "grab", "id": "g1", "drop": drop["id"]}))["t"] == "ack"
    await bob.close()


async def test_a_coupon_is_applied_to_a_buy_and_refused_below_its_minimum(
    start_server: Callable[..., ServerProc],
) -> None:
    a = start_server()
    room, host = await make_room(a)
    r = await host.call("POST", f"/api/rooms/{room}/pins", pin_body())
    assert r.status_code == 201, r.text
    pin = r.json()
    price = pin["price_cents"]
    coupon_drop = {"kind": "coupon", "count": 10, "value_cents": 100, "duration_s": 30}
    r = await host.call("POST", f"/api/rooms/{room}/drops", {**coupon_drop, "min_spend_cents": price + 1})
    assert r.status_code == 201, r.text
    drop = r.json()
    bob = await Client.connect(a, room, a.token(sub="bob"))
    ack = await bob.request({"t": "grab", "id": "g1", "drop": drop["id"]})
    coupon = ack["coupon"]
    assert coupon["value_cents"] == 100 and coupon["min_spend_cents"] == price + 1, ack
    one = await bob.request({"t": "buy", "id": "b1", "pin": pin["id"], "qty": 1, "coupon": coupon["id"]})
    assert one["t"] == "error" and one["code"] == "coupon_invalid", one
    two = await bob.request({"t": "buy", "id": "b2", "pin": pin["id"], "qty": 2, "coupon": coupon["id"]})
    assert two["t"] == "ack", two
    order = two["order"]
    assert order["coupon"] == coupon["id"] and order["discount_cents"] == 100
    assert order["total_cents"] == 2 * order["unit_price_cents"] - 100
    coupons = (await Http(a, a.token(sub="bob")).call("GET", "/api/me/coupons")).json()["coupons"]
    assert [(c["id"], c["state"], c["order"]) for c in coupons] == [(coupon["id"], "used", order["id"])]
    await bob.close()
