"""The audience of a go-live (contract §9, docs/social.md): followers of the room's host ∪ users
reminded of the room, each once, 1,000 a page in user-id order, exact while others come and go."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import Any

import pytest

from live.redis_client import connect
from live.social import SocialStore
from tests.live.social_kit import host_room, person, unique_user
from tests.support import Http, ServerProc, new_prefix, unique_room

T0 = 1_700_000_000_000


async def in_batches(calls: Iterable[Awaitable[Any]], size: int = 200) -> None:
    batch: list[Awaitable[Any]] = []
    for call in calls:
        batch.append(call)
        if len(batch) == size:
            await asyncio.gather(*batch)
            batch = []
    await asyncio.gather(*batch)


@pytest.fixture
async def social(redis_url: str) -> AsyncIterator[SocialStore]:
    redis = connect(redis_url)
    yield SocialStore(redis, new_prefix())
    await redis.aclose()


async def scheduled_room(social: SocialStore, room: str, host: str) -> None:
    """The meta fields the audience reads, as room_put.lua leaves them; and the host's record."""
    meta = f"{social.prefix}{{room:{room}}}:meta"
    await social.redis.hset(meta, mapping={"status": "scheduled", "host_id": host, "title": "Show"})
    await social.note_host_room(host, "Hana", room, T0)


async def all_pages(social: SocialStore, room: str, host: str) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        users, cursor = await social.audience_page(room, host, cursor)
        pages.append(users)
        if cursor is None:
            return pages


async def test_followers_and_reminded_are_counted_paged_and_found(social: SocialStore) -> None:
    await scheduled_room(social, "show", "hana")
    followers = [f"u{i:04d}" for i in range(0, 1200)]
    reminded = [f"u{i:04d}" for i in range(1000, 1500)]  # 200 of them also follow
    await in_batches(social.follow(u, "hana", True, T0) for u in followers)
    await in_batches(social.remind(u, "show", True, T0) for u in reminded)
    assert await social.audience_counts("show", "hana") == (1200, 500)
    pages = await all_pages(social, "show", "hana")
    assert [len(p) for p in pages] == [1000, 500]
    assert [u for p in pages for u in p] == [f"u{i:04d}" for i in range(1500)]
    asked = [f"u{i:04d}" for i in range(0, 2600, 2)]  # 1,300 users: two ZMSCORE chunks per set
    assert await social.audience_among("show", "hana", asked) == {u for u in asked if u < "u1500"}
    assert await social.audience_among("show", "hana", []) == set()
    assert await social.audience_among("show", "someone-else", ["u0000", "u1400"]) == {"u1400"}


async def test_a_page_boundary_at_exactly_one_thousand(social: SocialStore) -> None:
    await scheduled_room(social, "show", "hana")
    assert await social.audience_page("show", "hana", None) == ([], None)
    await in_batches(social.follow(f"u{i:04d}", "hana", True, T0) for i in range(1000))
    assert [len(p) for p in await all_pages(social, "show", "hana")] == [1000]
    await social.remind("u1000", "show", True, T0)
    pages = await all_pages(social, "show", "hana")
    assert [len(p) for p in pages] == [1000, 1] and pages[1] == ["u1000"]


async def test_paging_over_http_while_others_follow_and_unfollow(shared_server: ServerProc) -> None:
    server = shared_server
    hana = unique_user("hana")
    room = await host_room(server, hana)
    redis = connect(server.redis_url)
    try:
        social = SocialStore(redis, server.prefix)
        stem = unique_user("a")
        stayers = [f"{stem}-{i:04d}" for i in range(2500)]
        await in_batches(social.follow(u, hana, True, T0) for u in stayers[:2000])
        await in_batches(social.remind(u, room, True, T0) for u in stayers[1500:])  # 500 in both
        shop = Http(server, server.token("service", name="Shop", sub="shop"))
        rng = random.Random(13)
        churned: list[str] = []
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            r = await shop.call(
                "GET", f"/api/rooms/{room}/audience" + (f"?cursor={cursor}" if cursor else "")
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert len(body["users"]) <= 1000 and body["users"] == sorted(body["users"])
            seen += body["users"]
            cursor, pages = body["next"], pages + 1
            if cursor is None:
                break
            assert pages < 10, "paging does not end"
            # Between two page reads, others come and go on both sides of the cursor.
            leaving, churned = churned, [f"{stem}-{rng.randrange(2500):04d}-c{pages}" for _ in range(100)]
            await in_batches(
                [
                    *(social.follow(u, hana, False, T0) for u in leaving[::2]),
                    *(social.remind(u, room, False, T0) for u in leaving[1::2]),
                    *(social.follow(u, hana, True, T0) for u in churned[::2]),
                    *(social.remind(u, room, True, T0) for u in churned[1::2]),
                ]
            )
        assert pages == 3
        assert len(seen) == len(set(seen)), "a user was told twice"
        assert [u for u in seen if u in set(stayers)] == stayers  # everyone who stayed, once, in order
    finally:
        await redis.aclose()


async def test_only_the_shop_reads_the_audience(shared_server: ServerProc) -> None:
    server = shared_server
    hana = unique_user("hana")
    room = await host_room(server, hana)
    vi, viewer = person(server, "Vi")
    await viewer.call("PUT", f"/api/follows/{hana}")
    host = Http(server, server.token("host", room, name="Hana", sub=hana))
    for http in (viewer, host):
        r = await http.call("GET", f"/api/rooms/{room}/audience")
        assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    for anonymous in (Http(server), Http(server, "garbage")):
        r = await anonymous.call("GET", f"/api/rooms/{room}/audience")
        assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
    shop = Http(server, server.token("service", name="Shop", sub="shop"))
    assert (await shop.call("GET", f"/api/rooms/{room}/audience")).json() == {"users": [vi], "next": None}
    r = await shop.call("GET", f"/api/rooms/{unique_room('none')}/audience")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = await shop.call("GET", f"/api/rooms/{room}/audience?cursor=not%20an%20id")
    assert (r.status_code, r.json()["error"]) == (400, "bad_request")
