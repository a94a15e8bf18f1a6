"""Follower counts stay exact under a storm of follows and unfollows sent to two ``live serve``
processes at once (contract §9): the host's side ends equal to the users' side, version for version."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import httpx

from live.keys import host_follower_versions, host_followers, user_follows, user_relation_versions
from live.redis_client import connect
from tests.live.social_kit import host_room, unique_user
from tests.support import ServerProc

USERS = 200


async def both_sides(redis: Any, prefix: str, host: str, users: list[str]) -> list[tuple[Any, ...]]:
    """Per user: (user side follows?, user's version, host side has them?, host's stored version)."""
    pipe = redis.pipeline(transaction=False)
    for user in users:
        pipe.zscore(user_follows(prefix, user), host)
        pipe.hget(user_relation_versions(prefix, user), f"follow:{host}")
        pipe.zscore(host_followers(prefix, host), user)
        pipe.hget(host_follower_versions(prefix, host), user)
    r = await pipe.execute()
    return [
        (r[i] is not None, int(r[i + 1] or 0), r[i + 2] is not None, int(r[i + 3] or 0))
        for i in range(0, len(r), 4)
    ]


def assert_consistent(sides: list[tuple[Any, ...]]) -> None:
    for following, version, listed, stored in sides:
        assert listed == following, (following, version, listed, stored)
        assert stored == (version if following else -version)


async def test_two_processes_storm_of_follows_ends_exact(start_server: Callable[..., ServerProc]) -> None:
    servers = [start_server(), start_server()]
    host = unique_user("hana")
    await host_room(servers[0], host)
    stem = unique_user("f")
    users = [f"{stem}-{i}" for i in range(USERS)]
    tokens = {u: servers[0].token(name="Fan", sub=u) for u in users}
    rng = random.Random(13)
    # Few connections, many requests queued on them: httpx's pool slows down past a handful.
    limits = httpx.Limits(max_connections=8)
    clients = [httpx.AsyncClient(base_url=s.url, timeout=30, limits=limits) for s in servers]
    redis = connect(servers[0].redis_url)
    try:

        async def send(user: str, method: str) -> int:
            client = rng.choice(clients)
            r = await client.request(
                method, f"/api/follows/{host}", headers={"Authorization": f"Bearer {tokens[user]}"}
            )
            assert r.status_code == 200, r.text
            assert r.json()["following"] is (method == "PUT")
            return int(r.json()["followers"])

        # A storm: every user's follow, unfollow and follow all in flight at once, users shuffled,
        # each request on either process: a user's three requests race each other to both sides.
        rng.shuffle(users)
        storm = [(u, m) for u in users for m in ("PUT", "DELETE", "PUT")]
        await asyncio.gather(*(send(u, m) for u, m in storm))
        sides = await both_sides(redis, servers[0].prefix, host, users)
        assert_consistent(sides)
        following = sum(1 for s in sides if s[0])
        assert await redis.zcard(host_followers(servers[0].prefix, host)) == following

        # Then every user follows once more: the storm's losers catch up, the rest is a no-op.
        counts = await asyncio.gather(*(send(u, "PUT") for u in users))
        assert max(counts) == USERS
        assert_consistent(await both_sides(redis, servers[0].prefix, host, users))
        r = await clients[1].get(f"/api/hosts/{host}")
        assert r.json()["followers"] == USERS
    finally:
        for client in clients:
            await client.aclose()
        await redis.aclose()
