"""The batcher's own pipelined connection against a real Redis: the same replies as redis-py, in
order, across batches in flight at once; errors in place; lost connections and timeouts fail
loudly and the next batch connects afresh."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from live import redis_pipe
from live.redis_client import connect
from live.redis_pipe import RedisPipe, pack_arg, pack_command, pack_script
from tests.support import RedisProc, new_prefix

ECHO = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) * 2, {ARGV[3]}, false}"


@pytest.fixture
async def pipe(redis_proc: RedisProc) -> AsyncIterator[RedisPipe]:
    client = connect(redis_proc.url)
    made = RedisPipe.for_client(client)
    assert made is not None
    yield made
    await made.close()
    await client.aclose()


async def test_replies_are_redis_pys_own_with_errors_in_place(redis_proc: RedisProc, pipe: RedisPipe) -> None:
    key = new_prefix() + "k"
    admin = redis_proc.client()
    sha = admin.script_load(ECHO)
    try:
        replies = await pipe.execute(
            [
                pack_command(("SET", key, "价格 ¥19")),
                pack_command(("GET", key)),
                pack_command(("HGET", key, "x")),  # the wrong type: an error, in its place
                pack_command(("GET", key + ":none")),
                pack_command(("INCRBY", key + ":n", 5)),
                pack_script(sha, [key], ["中", 21, b"raw"]),
                pack_script("0" * 40, [key], []),
                pack_script(sha, (key,), ["中", 21, b"raw"]),  # a key tuple: its head packed once
            ]
        )
        assert replies[:2] == ["OK", "价格 ¥19"]
        assert isinstance(replies[2], ResponseError) and "WRONGTYPE" in str(replies[2])
        assert replies[3:6] == [None, 5, [key, "中", 42, ["raw"], None]]
        assert isinstance(replies[6], NoScriptError)
        assert replies[7] == replies[5]
        assert admin.evalsha(sha, 1, key, "中", 21, "raw") == replies[5]
    finally:
        admin.close()


async def test_batches_in_flight_together_each_get_their_own_replies(pipe: RedisPipe) -> None:
    key = new_prefix() + "n"
    batches = [[pack_command(("INCR", f"{key}:{b}")) for _ in range(40)] for b in range(50)]
    results = await asyncio.gather(*(pipe.execute(batch) for batch in batches))
    assert results == [list(range(1, 41)) for _ in range(50)]
    big = await pipe.execute([pack_command(("ECHO", f"{i}" * 50)) for i in range(5000)])
    assert big == [f"{i}" * 50 for i in range(5000)]


async def test_a_url_with_a_database_selects_it(redis_proc: RedisProc) -> None:
    client = connect(f"redis://127.0.0.1:{redis_proc.port}/3")
    made = RedisPipe.for_client(client)
    assert made is not None
    key = new_prefix() + "db"
    admin = redis.Redis(port=redis_proc.port, db=3, decode_responses=True)
    try:
        assert await made.execute([pack_command(("SET", key, "three"))]) == ["OK"]
        assert admin.get(key) == "three"
    finally:
        admin.close()
        await made.close()
        await client.aclose()


async def test_a_timeout_drops_the_connection_and_the_next_batch_gets_its_own_replies() -> None:
    server = RedisProc(appendonly=False).start()
    made = RedisPipe(port=server.port, timeout_s=0.3)
    try:
        with pytest.raises(RedisTimeoutError):
            # BLPOP blocks the connection for 1 s: its reply and the ECHO's come after the timeout.
            await made.execute([pack_command(("BLPOP", "nothing", 1)), pack_command(("ECHO", "late"))])
        # The late replies of the dropped connection must never be taken for these.
        assert await made.execute([pack_command(("ECHO", "fresh"))]) == ["fresh"]
    finally:
        await made.close()
        server.stop()


async def test_a_redis_killed_mid_batch_fails_it_and_the_pipe_reconnects_after_a_restart() -> None:
    server = RedisProc(appendonly=False).start()
    made = RedisPipe(port=server.port, timeout_s=5)
    try:
        assert await made.execute([pack_command(("PING",))]) == ["PONG"]
        slow = asyncio.ensure_future(made.execute([pack_command(("BLPOP", "nothing", 3))]))
        await asyncio.sleep(0.2)
        server.kill()
        with pytest.raises(RedisConnectionError):
            await slow
        with pytest.raises(RedisConnectionError):
            await made.execute([pack_command(("PING",))])  # nobody listens: refused, clearly
        server.start()
        assert await made.execute([pack_command(("ECHO", "back"))]) == ["back"]
    finally:
        await made.close()
        with contextlib.suppress(Exception):
            server.stop()


async def test_only_a_plain_redis_gets_a_pipe() -> None:
    cluster = RedisCluster.from_url("redis://127.0.0.1:1")
    tls = aioredis.from_url("rediss://127.0.0.1:1")
    unix = aioredis.from_url("unix:///tmp/nowhere.sock")
    try:
        assert RedisPipe.for_client(cluster) is None
        assert RedisPipe.for_client(tls) is None
        assert RedisPipe.for_client(unix) is not None
    finally:
        await tls.aclose()
        await unix.aclose()


def test_a_command_packs_as_resp_whatever_its_arguments() -> None:
    command = ("EVALSHA", "a" * 40, 2, "k:1", b"k:\xff", 1_700_000_000_000, -3, 1.5, "é", "", True, None)
    expected = b"*%d\r\n" % len(command) + b"".join(pack_arg(arg) for arg in command)
    assert pack_command(command) == expected  # bool and None as their str, the rest through hiredis
    assert pack_command(command[:-2]) == b"*10\r\n" + b"".join(pack_arg(arg) for arg in command[:-2])
    assert pack_script("s", ["k"], [1]) == pack_command(("EVALSHA", "s", 1, "k", 1))


def test_a_script_call_packs_as_the_whole_command_with_its_head_kept_once_per_key_tuple(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_pipe, "SCRIPT_HEADS_MAX", 3)
    monkeypatch.setattr(redis_pipe, "_SCRIPT_HEADS", {})
    keys = ("room:{r}:a", "room:{r}:b")
    for args in ([1_700_000_000_000, "u-1", "价", b"\xff", 2.5], [], ["only"]):
        assert pack_script("s" * 40, keys, args) == pack_command(("EVALSHA", "s" * 40, 2, *keys, *args))
    assert list(redis_pipe._SCRIPT_HEADS) == [("s" * 40, keys)]  # one head, for every args
    assert pack_script("s" * 40, list(keys), [1]) == pack_command(("EVALSHA", "s" * 40, 2, *keys, 1))
    assert len(redis_pipe._SCRIPT_HEADS) == 1  # a list is packed whole, never kept
    for room in "xyz":  # past the cap the heads start again, and still pack right
        other = (f"room:{{{room}}}:a",)
        assert pack_script("t", other, [room]) == pack_command(("EVALSHA", "t", 1, *other, room))
    assert len(redis_pipe._SCRIPT_HEADS) <= 3
