"""relation_set.lua and relation_apply.lua against the real Redis: the user's side counts a version,
the target's side applies only a newer one (a stale write loses, a repeat is a no-op), and the
counts they answer are exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from live.redis_client import connect
from live.scripts import check, load
from tests.support import new_prefix

T0 = 1_700_000_000_000


class Relations:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        prefix = new_prefix()
        self.user_set, self.user_versions = f"{prefix}{{user:u}}:follows", f"{prefix}{{user:u}}:versions"
        self.target_set, self.target_versions = (
            f"{prefix}{{host:h}}:followers",
            f"{prefix}{{host:h}}:versions",
        )
        self._set = load(redis, "relation_set")
        self._apply = load(redis, "relation_apply")

    async def set(self, target: str, on: bool, now: int = T0) -> tuple[int, int]:
        """(changed, signed version) from the user's side."""
        reply = check(
            await self._set(
                keys=[self.user_set, self.user_versions], args=[target, f"follow:{target}", int(on), now]
            )
        )
        return int(reply[1]), int(reply[2])

    async def apply(self, user: str, version: int) -> tuple[int, int]:
        """(applied, ZCARD after) on the target's side."""
        reply = check(await self._apply(keys=[self.target_set, self.target_versions], args=[user, version]))
        return int(reply[1]), int(reply[2])


@pytest.fixture
async def rel(redis_url: str) -> AsyncIterator[Relations]:
    redis = connect(redis_url)
    yield Relations(redis)
    await redis.aclose()


async def test_the_user_side_counts_a_version_per_change_and_answers_it_on_a_repeat(rel: Relations) -> None:
    assert await rel.set("h", False) == (0, 0)  # never followed: nothing to apply
    assert await rel.set("h", True, T0) == (1, 1)
    assert await rel.set("h", True, T0 + 5) == (0, 1)  # a repeat: same version, time followed kept
    assert await rel.redis.zscore(rel.user_set, "h") == T0
    assert await rel.set("h", False) == (1, -2)
    assert await rel.set("h", False) == (0, -2)
    assert await rel.set("h", True, T0 + 9) == (1, 3)
    assert await rel.redis.zscore(rel.user_set, "h") == T0 + 9
    assert await rel.redis.hgetall(rel.user_versions) == {"follow:h": "3"}


async def test_a_stale_version_loses_and_a_repeat_is_a_no_op(rel: Relations) -> None:
    assert await rel.apply("alice", 0) == (0, 0)
    assert await rel.apply("alice", 1) == (1, 1)
    assert await rel.apply("alice", 1) == (0, 1)  # the same request applied twice
    assert await rel.apply("alice", -2) == (1, 0)
    assert await rel.apply("alice", 1) == (0, 0)  # the follow that arrived after the unfollow
    assert await rel.apply("alice", -2) == (0, 0)
    assert await rel.redis.hget(rel.target_versions, "alice") == "-2"  # kept after the unfollow
    assert await rel.apply("alice", 3) == (1, 1)
    assert await rel.redis.zscore(rel.target_set, "alice") == 0


async def test_applied_in_any_order_the_newest_version_decides_and_counts_are_exact(rel: Relations) -> None:
    # Each user's history on the user side, then its applies delivered newest first, oldest last.
    for user, flips in [("a", 3), ("b", 4), ("c", 5), ("d", 1)]:
        versions = [v if v % 2 else -v for v in range(1, flips + 1)]  # on, off, on, ...
        for version in reversed(versions):
            await rel.apply(user, version)
    assert await rel.redis.zrange(rel.target_set, 0, -1) == ["a", "c", "d"]
    assert (await rel.apply("e", 1))[1] == 4
    assert (await rel.apply("a", -4))[1] == 3
