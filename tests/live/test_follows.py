"""Follows over real HTTP (contract §9, docs/social.md): follow, unfollow, the list, the host page,
and who may do what."""

from __future__ import annotations

import time

from tests.live.social_kit import host_room, person, stop_room, unique_user
from tests.support import Http, ServerProc

HOUR_MS = 3_600_000


async def test_follow_unfollow_the_list_and_the_host_page(shared_server: ServerProc) -> None:
    server = shared_server
    hana, kai = unique_user("hana"), unique_user("kai")
    soon = time.time_ns() // 1_000_000 + HOUR_MS
    later = await host_room(server, hana, title="Later", starts_at_ms=soon + HOUR_MS, description="Teapots")
    sooner = await host_room(server, hana, title="Sooner", starts_at_ms=soon)
    untimed = await host_room(server, hana, title="Some day")
    on_air = await host_room(server, hana, title="On air", start=True)
    over = await host_room(server, hana, title="Over", start=True)
    await stop_room(server, hana, over)
    await host_room(server, kai, name="Kai", title="Kai's show")
    alice_id, alice = person(server, "Alice")
    _, bob = person(server, "Bob")

    r = await alice.call("PUT", f"/api/follows/{hana}")
    assert r.status_code == 200, r.text
    assert r.json() == {"id": hana, "name": "Hana", "followers": 1, "following": True}
    assert (await alice.call("PUT", f"/api/follows/{hana}")).json()["followers"] == 1  # idempotent
    assert (await bob.call("PUT", f"/api/follows/{hana}")).json()["followers"] == 2
    assert (await alice.call("PUT", f"/api/follows/{kai}")).json() == {
        "id": kai,
        "name": "Kai",
        "followers": 1,
        "following": True,
    }

    hosts = (await alice.call("GET", "/api/follows")).json()["hosts"]
    assert hosts == [
        {"id": kai, "name": "Kai", "followers": 1, "live_room": None, "next_show": hosts[0]["next_show"]},
        {
            "id": hana,
            "name": "Hana",
            "followers": 2,
            "live_room": {"id": on_air, "title": "On air"},
            "next_show": {"id": sooner, "title": "Sooner", "starts_at_ms": soon},
        },
    ]  # most recently followed first
    assert hosts[0]["next_show"]["title"] == "Kai's show" and hosts[0]["next_show"]["starts_at_ms"] is None

    page = (await Http(server).call("GET", f"/api/hosts/{hana}")).json()
    assert page == {
        "id": hana,
        "name": "Hana",
        "followers": 2,
        "live": [{"id": on_air, "title": "On air"}],
        "scheduled": [
            {"id": sooner, "title": "Sooner", "starts_at_ms": soon, "description": ""},
            {"id": later, "title": "Later", "starts_at_ms": soon + HOUR_MS, "description": "Teapots"},
            {"id": untimed, "title": "Some day", "starts_at_ms": None, "description": ""},
        ],
    }  # no "following" without a token; the ended show is on neither list
    assert (await alice.call("GET", f"/api/hosts/{hana}")).json()["following"] is True
    _, carol = person(server, "Carol")
    assert (await carol.call("GET", f"/api/hosts/{hana}")).json()["following"] is False

    r = await alice.call("DELETE", f"/api/follows/{hana}")
    assert r.json() == {"id": hana, "name": "Hana", "followers": 1, "following": False}
    assert (await alice.call("DELETE", f"/api/follows/{hana}")).json()["followers"] == 1  # idempotent
    assert [h["id"] for h in (await alice.call("GET", "/api/follows")).json()["hosts"]] == [kai]
    assert (await alice.call("GET", f"/api/hosts/{hana}")).json()["following"] is False
    # Following again puts the host back at the top: the list is by when I followed.
    await alice.call("PUT", f"/api/follows/{hana}")
    assert [h["id"] for h in (await alice.call("GET", "/api/follows")).json()["hosts"]] == [hana, kai]
    _, nobody = person(server, "Nobody", alice_id + "-x")
    assert (await nobody.call("GET", "/api/follows")).json() == {"hosts": []}


async def test_who_may_follow_whom(shared_server: ServerProc) -> None:
    server = shared_server
    hana = unique_user("hana")
    room = await host_room(server, hana)
    _, viewer = person(server, "Vi")
    never_hosted = unique_user("never")
    as_host = Http(server, server.token("host", room, name="Hana", sub=hana))
    as_viewer = Http(server, server.token(name="Hana", sub=hana))
    for http in (as_host, as_viewer):
        for method in ("PUT", "DELETE"):
            r = await http.call(method, f"/api/follows/{hana}")
            assert (r.status_code, r.json()["error"]) == (400, "bad_request"), r.text
    for target in (never_hosted, "no-such-user", "bad%20id"):
        for method in ("PUT", "DELETE"):
            r = await viewer.call(method, f"/api/follows/{target}")
            assert (r.status_code, r.json()["error"]) == (404, "not_found"), (target, r.text)
        r = await viewer.call("GET", f"/api/hosts/{target}")
        assert (r.status_code, r.json()["error"]) == (404, "not_found"), (target, r.text)
    shop = Http(server, server.token("service", name="Shop", sub="shop"))
    r = await shop.call("PUT", f"/api/follows/{hana}")
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    for http in (Http(server), Http(server, "garbage")):
        r = await http.call("PUT", f"/api/follows/{hana}")
        assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
        assert (await http.call("GET", "/api/follows")).status_code == 401
    r = await Http(server, "garbage").call("GET", f"/api/hosts/{hana}")
    assert r.status_code == 401  # a token that is there must be valid, as everywhere
    r = await viewer.call("POST", f"/api/follows/{hana}")
    assert (r.status_code, r.headers["allow"]) == (405, "DELETE, PUT")
    assert (await Http(server).call("GET", f"/api/hosts/{hana}")).json()["followers"] == 0
