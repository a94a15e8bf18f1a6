"""Reminders over real HTTP (contract §9, docs/social.md): remind me of a scheduled show, my
reminders soonest first, and the rules."""

from __future__ import annotations

import time

from tests.live.social_kit import host_room, person, stop_room, unique_user
from tests.support import Http, ServerProc, unique_room

HOUR_MS = 3_600_000


async def test_remind_me_of_scheduled_shows_listed_soonest_first(shared_server: ServerProc) -> None:
    server = shared_server
    hana = unique_user("hana")
    soon = time.time_ns() // 1_000_000 + HOUR_MS
    later = await host_room(server, hana, title="Later", starts_at_ms=soon + HOUR_MS)
    untimed = await host_room(server, hana, title="Some day")
    sooner = await host_room(server, hana, title="Sooner", starts_at_ms=soon)
    _, alice = person(server, "Alice")
    for room in (later, untimed, sooner):
        r = await alice.call("PUT", f"/api/rooms/{room}/reminder")
        assert (r.status_code, r.json()) == (200, {"room": room, "reminded": True}), r.text
    assert (await alice.call("PUT", f"/api/rooms/{sooner}/reminder")).json()["reminded"] is True  # idempotent
    rooms = (await alice.call("GET", "/api/me/reminders")).json()["rooms"]
    assert rooms == [
        {"id": sooner, "title": "Sooner", "status": "scheduled", "starts_at_ms": soon},
        {"id": later, "title": "Later", "status": "scheduled", "starts_at_ms": soon + HOUR_MS},
        {"id": untimed, "title": "Some day", "status": "scheduled", "starts_at_ms": None},
    ]
    r = await alice.call("DELETE", f"/api/rooms/{later}/reminder")
    assert r.json() == {"room": later, "reminded": False}
    assert (await alice.call("DELETE", f"/api/rooms/{later}/reminder")).json()["reminded"] is False
    # The show went live: still listed (the home page shows it on air), no new reminders for it.
    host = Http(server, server.token("host", sooner, name="Hana", sub=hana))
    assert (await host.call("POST", f"/api/rooms/{sooner}/start")).status_code == 200
    rooms = (await alice.call("GET", "/api/me/reminders")).json()["rooms"]
    assert [(r["id"], r["status"]) for r in rooms] == [(sooner, "live"), (untimed, "scheduled")]
    _, bob = person(server, "Bob")
    r = await bob.call("PUT", f"/api/rooms/{sooner}/reminder")
    assert (r.status_code, r.json()["error"]) == (409, "conflict")
    assert (await alice.call("DELETE", f"/api/rooms/{sooner}/reminder")).json()["reminded"] is False
    # An ended show has nothing left to remind of: it leaves my list.
    await alice.call("PUT", f"/api/rooms/{later}/reminder")
    await stop_room(server, hana, later)
    rooms = (await alice.call("GET", "/api/me/reminders")).json()["rooms"]
    assert [r["id"] for r in rooms] == [untimed]
    assert (await bob.call("GET", "/api/me/reminders")).json() == {"rooms": []}


async def test_who_may_set_reminders(shared_server: ServerProc) -> None:
    server = shared_server
    room = await host_room(server, unique_user("hana"))
    _, alice = person(server, "Alice")
    for method in ("PUT", "DELETE"):
        for missing in (unique_room("none"), "Bad_Room"):
            r = await alice.call(method, f"/api/rooms/{missing}/reminder")
            assert (r.status_code, r.json()["error"]) == (404, "not_found"), r.text
        shop = Http(server, server.token("service", name="Shop", sub="shop"))
        r = await shop.call(method, f"/api/rooms/{room}/reminder")
        assert (r.status_code, r.json()["error"]) == (403, "forbidden")
        for anonymous in (Http(server), Http(server, "garbage")):
            r = await anonymous.call(method, f"/api/rooms/{room}/reminder")
            assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
    assert (await Http(server).call("GET", "/api/me/reminders")).status_code == 401
