"""HTTP API (contract §3) against a real server and Redis: every route, every refusal."""

from __future__ import annotations

import pytest

from live.auth import make_token
from tests.support import Client, Http, ServerProc, make_room, unique_room


async def test_room_lifecycle(shared_server: ServerProc) -> None:
    room = unique_room()
    host = Http(shared_server, shared_server.token("host", room, name="Alice", sub="alice"))
    r = await host.call("PUT", f"/api/rooms/{room}", {"title": "Panda night"})
    assert r.status_code == 201
    assert r.json()["status"] == "scheduled" and r.json()["host"] == {
        "id": "alice",
        "name": "Alice",
        "followers": 0,
    }
    r = await host.call("PUT", f"/api/rooms/{room}", {"title": "Panda night II"})
    assert r.status_code == 200 and r.json()["title"] == "Panda night II"

    listed = (await Http(shared_server).call("GET", "/api/rooms")).json()["rooms"]
    assert room not in [x["id"] for x in listed]  # scheduled rooms are not listed
    assert (await host.call("POST", f"/api/rooms/{room}/start")).json()["status"] == "live"
    listed = (await Http(shared_server).call("GET", "/api/rooms")).json()["rooms"]
    entry = next(x for x in listed if x["id"] == room)
    assert entry["title"] == "Panda night II" and entry["host"]["name"] == "Alice" and entry["viewers"] == 0

    snap = (await Http(shared_server).call("GET", f"/api/rooms/{room}")).json()
    assert snap["room"]["status"] == "live" and snap["pin"] is None and snap["chat"] == []
    assert snap["seq"] == 2  # retitle + start

    assert (await host.call("POST", f"/api/rooms/{room}/stop")).json()["status"] == "ended"
    r = await host.call("POST", f"/api/rooms/{room}/start")
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    listed = (await Http(shared_server).call("GET", "/api/rooms")).json()["rooms"]
    assert room not in [x["id"] for x in listed]


async def test_status_changes_are_room_events(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server, start=False)
    viewer = await Client.connect(shared_server, room)
    await host.call("POST", f"/api/rooms/{room}/start")
    event = await viewer.next_of("room")
    assert event["status"] == "live" and isinstance(event["seq"], int)
    await viewer.close()


async def test_unknown_room_is_404(shared_server: ServerProc) -> None:
    r = await Http(shared_server).call("GET", f"/api/rooms/{unique_room('none')}")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await Http(shared_server).call("GET", "/api/rooms/NOT_A_ROOM")
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("method", "path_tail", "body"),
    [
        ("PUT", "", {"title": "x"}),
        ("POST", "/start", None),
        ("POST", "/stop", None),
        ("POST", "/pins", {}),
        ("DELETE", "/pins/p1", None),
        ("GET", "/orders", None),
        ("GET", "/stats", None),
        ("POST", "/moderation", {"action": "slow", "seconds": 1}),
        ("POST", "/publish", {"sdp": "x", "type": "offer"}),
    ],
)
async def test_host_routes_refuse_others(
    shared_server: ServerProc, method: str, path_tail: str, body: object
) -> None:
    room, _ = await make_room(shared_server)
    path = f"/api/rooms/{room}{path_tail}"
    r = await Http(shared_server).call(method, path, body)
    assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
    viewer = Http(shared_server, shared_server.token("viewer", None, name="Eve"))
    r = await viewer.call(method, path, body)
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    other_host = Http(shared_server, shared_server.token("host", "some-other-room", name="Mallory"))
    r = await other_host.call(method, path, body)
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    if path_tail != "/moderation":
        mod = Http(shared_server, shared_server.token("mod", room, name="Mo"))
        r = await mod.call(method, path, body)
        assert r.status_code == 403


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-jwt",
        "Basic abc",
        "Bearer "
        + make_token("another-secret-0123456789-abcdefghijklmnop", sub="x", name="X", role="host", room="r"),
        "Bearer "
        + make_token("test-secret-0123456789-abcdefghijklmnop", sub="x", name="X", role="viewer", ttl_s=-10),
    ],
)
async def test_invalid_tokens_are_unauthorized(shared_server: ServerProc, header: str) -> None:
    room, _ = await make_room(shared_server)
    http = Http(shared_server)
    http.headers = lambda: {"Authorization": header}  # type: ignore[method-assign]
    r = await http.call("POST", f"/api/rooms/{room}/start")
    assert (r.status_code, r.json()["error"]) == (401, "unauthorized")


async def test_bad_bodies(shared_server: ServerProc) -> None:
    room = unique_room()
    host = Http(shared_server, shared_server.token("host", room, name="H"))
    for raw in (b"not json", b"[1]", b'{"title": 7}', b"{}", b'{"title": ""}'):
        r = await host.call("PUT", f"/api/rooms/{room}", raw=raw)
        assert (r.status_code, r.json()["error"]) == (400, "bad_request"), raw
    r = await host.call("PUT", f"/api/rooms/{room}", raw=b'{"title":"' + b"x" * 70_000 + b'"}')
    assert (r.status_code, r.json()["error"]) == (413, "too_large")
    assert (
        await Http(shared_server).call("GET", f"/api/rooms/{room}")
    ).status_code == 404  # nothing was created
    bad_room = "Bad_Room"
    host = Http(shared_server, shared_server.token("host", "ok-room", name="H"))
    r = await host.call("PUT", f"/api/rooms/{bad_room}", {"title": "x"})
    assert r.status_code in (400, 403)


async def test_starting_a_missing_room_is_404(shared_server: ServerProc) -> None:
    room = unique_room()
    host = Http(shared_server, shared_server.token("host", room, name="H"))
    r = await host.call("POST", f"/api/rooms/{room}/start")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


async def test_healthz_and_metrics(shared_server: ServerProc) -> None:
    r = await Http(shared_server).call("GET", "/healthz")
    assert r.status_code == 200 and r.json() == {"ok": True}
    text = (await Http(shared_server).call("GET", "/metrics")).text
    for name in (
        "live_connections",
        "live_event_deliveries_total",
        "live_fanout_lag_ms_bucket",
        "live_frames_in_total",
    ):
        assert name in text


async def test_unknown_path_is_json_404(shared_server: ServerProc) -> None:
    r = await Http(shared_server).call("GET", "/api/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_dev_token(shared_server: ServerProc, start_server) -> None:  # type: ignore[no-untyped-def]
    r = await Http(shared_server).call(
        "POST", "/api/dev/token", {"name": "Ann", "role": "host", "room": "demo"}
    )
    assert r.status_code == 200 and r.json()["token"].count(".") == 2
    refused = (
        {"name": "", "role": "viewer"},
        {"name": "\u200b", "role": "viewer"},  # nothing visible: the same text rule as chat
        {"name": "Ann\u202e", "role": "viewer"},  # a bidi override
        {"name": "A", "role": "god"},
        {"name": "A", "role": "host"},
    )
    for body in refused:
        r = await Http(shared_server).call("POST", "/api/dev/token", body)
        assert r.status_code == 400, body
    # Without --dev the route does not exist.
    prod = start_server(dev=False)
    r = await Http(prod).call("POST", "/api/dev/token", {"name": "Ann", "role": "viewer"})
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


async def test_moderation_by_mod(shared_server: ServerProc) -> None:
    room, _ = await make_room(shared_server)
    mod = Http(shared_server, shared_server.token("mod", room, name="Mo"))
    r = await mod.call("POST", f"/api/rooms/{room}/moderation", {"action": "slow", "seconds": 3})
    assert r.status_code == 200 and r.json()["ok"] is True
    snap = (await Http(shared_server).call("GET", f"/api/rooms/{room}")).json()
    assert snap["room"]["slow_s"] == 3
    r = await mod.call("POST", f"/api/rooms/{room}/moderation", {"action": "explode"})
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/rooms/{room}/start", "POST"),
        ("DELETE", "/api/rooms/{room}", "GET, HEAD, PUT"),
        ("POST", "/api/rooms", "GET, HEAD"),
        ("GET", "/api/dev/token", "POST"),
    ],
)
async def test_a_wrong_method_is_405_with_allow(
    shared_server: ServerProc, method: str, path: str, allow: str
) -> None:
    r = await Http(shared_server).call(method, path.format(room=unique_room()))
    assert r.status_code == 405 and r.headers["allow"] == allow
    told = " or ".join(m for m in allow.split(", ") if m != "HEAD")
    assert r.json() == {"error": "method_not_allowed", "message": f"use {told}"}


async def test_without_dev_the_dev_token_path_does_not_exist(start_server) -> None:  # type: ignore[no-untyped-def]
    prod = start_server(dev=False)
    for method in ("GET", "POST", "DELETE"):
        r = await Http(prod).call(method, "/api/dev/token", {"name": "Ann"} if method == "POST" else None)
        assert (r.status_code, r.json()["error"]) == (404, "not_found"), method


async def test_rooms_list_pages(shared_server: ServerProc) -> None:
    mine = set()
    for _ in range(3):
        room, _host = await make_room(shared_server)
        mine.add(room)
    seen: list[str] = []
    cursor = ""
    while True:
        r = await Http(shared_server).call("GET", f"/api/rooms?limit=1&cursor={cursor}")
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"rooms", "next"} and len(body["rooms"]) <= 1
        seen += [x["id"] for x in body["rooms"]]
        if body["next"] is None:
            break
        cursor = body["next"]
    assert mine <= set(seen) and len(seen) == len(set(seen))
    for query in ("limit=0", "limit=201", "limit=x", "cursor=NOT_A_ROOM"):
        r = await Http(shared_server).call("GET", f"/api/rooms?{query}")
        assert (r.status_code, r.json()["error"]) == (400, "bad_request"), query


async def test_a_mod_cannot_lock_the_host_out(shared_server: ServerProc) -> None:
    room, host = await make_room(shared_server)
    mod = Http(shared_server, shared_server.token("mod", room, name="Mo", sub="mo"))
    for body in ({"action": "ban", "user": "host"}, {"action": "mute", "user": "host", "seconds": 60}):
        r = await mod.call("POST", f"/api/rooms/{room}/moderation", body)
        assert (r.status_code, r.json()["error"]) == (403, "forbidden"), body
    # The host bans the mod; the banned mod cannot lift its own ban.
    r = await host.call("POST", f"/api/rooms/{room}/moderation", {"action": "ban", "user": "mo"})
    assert r.status_code == 200
    r = await mod.call("POST", f"/api/rooms/{room}/moderation", {"action": "unban", "user": "mo"})
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    hostess = await Client.connect(
        shared_server, room, shared_server.token("host", room, name="Host", sub="host")
    )
    assert hostess.events[0]["you"]["id"] == "host"  # not banned: the host is still in
    await hostess.close()
