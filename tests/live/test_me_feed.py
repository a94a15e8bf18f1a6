"""The ``/ws/me`` feed (live/me_feed.py) in this process against a real Redis: one connection,
subscribed to the channels of the users held and nothing else, in the order Redis confirms."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import redis.asyncio as aioredis

from live.keys import me_channel
from live.me_feed import CLIENT_NAME, MeFeed
from tests.live.me_kit import numsub, publish_raw, until_numsub
from tests.support import RedisProc, new_prefix


@pytest.fixture
def own_redis() -> Iterator[RedisProc]:
    """A redis-server of this test's own, to pause, kill and restart."""
    proc = RedisProc().start()
    yield proc
    proc.stop()


class Fed:
    """What the feed handed on: messages by user, and how often it said the connection was lost."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.losses = 0

    def on_order(self, user: str, message: bytes) -> None:
        self.messages.append((user, message))

    def on_lost(self) -> None:
        self.losses += 1


@contextlib.asynccontextmanager
async def running(redis_url: str, prefix: str, linger_s: float = 0.2) -> AsyncIterator[tuple[MeFeed, Fed]]:
    fed = Fed()
    feed = MeFeed(redis_url, prefix, fed.on_order, fed.on_lost, linger_s=linger_s, poll_s=0.05)
    task = asyncio.create_task(feed.run())
    try:
        assert await feed.wait_up(10.0)
        yield feed, fed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def _redis(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, decode_responses=True)


async def test_only_the_channels_of_users_held_are_subscribed(own_redis: RedisProc) -> None:
    # A Redis of its own: a feed of another test (or its closing connection) must not be counted.
    redis_url = own_redis.url
    prefix = new_prefix()
    redis = await _redis(redis_url)
    try:
        async with running(redis_url, prefix) as (feed, fed):
            # Connected, and subscribed to nothing: an order of anyone costs this process nothing.
            mine = [c for c in await redis.client_list() if c["name"] == CLIENT_NAME]
            assert [c["sub"] for c in mine] == ["0"]
            assert await redis.pubsub_channels(me_channel(prefix, "*")) == []
            assert await publish_raw(redis_url, prefix, "alice", b"{}") == 0

            assert await feed.hold("alice") is True
            assert await numsub(redis_url, prefix, "alice", "bob") == [1, 0]
            assert await publish_raw(redis_url, prefix, "alice", b'{"n":1}') == 1
            assert await publish_raw(redis_url, prefix, "bob", b'{"n":2}') == 0
            await until(lambda: len(fed.messages) == 1)
            assert fed.messages == [("alice", b'{"n":1}')]

            feed.release("alice")
            await until_numsub(redis_url, prefix, "alice", 0)  # after the linger
            assert len(feed.subs) == 0
            assert fed.losses == 0
    finally:
        await redis.aclose()


async def test_two_sockets_joining_at_once_cost_one_subscribe(own_redis: RedisProc) -> None:
    prefix = new_prefix()
    redis = await _redis(own_redis.url)
    try:
        async with running(own_redis.url, prefix) as (feed, _):
            await redis.config_resetstat()
            first, second = feed.hold("alice"), feed.hold("alice")
            assert await asyncio.gather(first, second) == [True, True]
            stats = await redis.info("commandstats")
            assert stats["cmdstat_subscribe"]["calls"] == 1
            assert await numsub(own_redis.url, prefix, "alice") == [1]
            feed.release("alice")
            feed.release("alice")
            await until_numsub(own_redis.url, prefix, "alice", 0)
    finally:
        await redis.aclose()


async def test_back_while_the_unsubscribe_is_in_flight_is_ready_only_after_the_new_subscribe(
    own_redis: RedisProc,
) -> None:
    prefix = new_prefix()
    pauser = await _redis(own_redis.url)
    try:
        async with running(own_redis.url, prefix, linger_s=0.0) as (feed, fed):
            assert await feed.hold("alice") is True
            # Redis holds every command for a while: what the feed sends now stays in flight.
            await pauser.execute_command("CLIENT", "PAUSE", 2000, "ALL")
            feed.release("alice")
            await until(lambda: feed.subs.state("alice") == (0, False, (False,)))  # UNSUBSCRIBE sent
            back = feed.hold("alice")
            await until(lambda: feed.subs.state("alice") == (1, True, (False, True)))  # SUBSCRIBE behind it
            assert not back.done()
            assert await asyncio.wait_for(back, 10.0) is True
            assert feed.subs.state("alice") == (1, True, ())
            assert await numsub(own_redis.url, prefix, "alice") == [1]
            assert await publish_raw(own_redis.url, prefix, "alice", b'{"n":1}') == 1
            await until(lambda: fed.messages == [("alice", b'{"n":1}')])
            feed.release("alice")
    finally:
        await pauser.aclose()


async def test_a_lost_connection_fails_the_waits_and_resubscribes_nobody(own_redis: RedisProc) -> None:
    prefix = new_prefix()
    pauser = await _redis(own_redis.url)
    try:
        async with running(own_redis.url, prefix) as (feed, fed):
            assert await feed.hold("alice") is True  # an open socket
            await pauser.execute_command("CLIENT", "PAUSE", 5000, "ALL")
            waiting = feed.hold("bob")
            await until(lambda: feed.subs.state("bob") == (1, True, (True,)))
            own_redis.kill()
            assert await asyncio.wait_for(waiting, 15.0) is False
            await until(lambda: fed.losses == 1)
            # While it is down, a new socket is refused at once.
            assert await feed.hold("carol") is False
            feed.release("carol")
            own_redis.start()
            assert await feed.wait_up(30.0)
            # Alice's socket was told and is closing: her channel is not subscribed behind its back.
            assert await numsub(own_redis.url, prefix, "alice", "bob") == [0, 0]
            assert await feed.hold("alice") is True  # a new socket of hers subscribes afresh
            assert await numsub(own_redis.url, prefix, "alice") == [1]
            for user in ("alice", "alice", "bob"):
                feed.release(user)
            await until_numsub(own_redis.url, prefix, "alice", 0)
    finally:
        await pauser.aclose()
