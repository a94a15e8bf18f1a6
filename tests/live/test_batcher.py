"""The script batcher against a real Redis: every caller gets an answer or an error, never silence."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
import redis
from redis.exceptions import NoPermissionError

from live.batcher import ScriptBatcher
from live.redis_client import connect
from tests.support import RedisProc

_users = itertools.count(1)
CALLERS = 20


@pytest.fixture
async def admin(redis_proc: RedisProc) -> AsyncIterator[redis.Redis]:
    client = redis_proc.client()
    yield client
    client.close()


async def _answers(batcher: ScriptBatcher, script: object) -> list[object]:
    calls = [asyncio.ensure_future(batcher.call(script, [f"k{i}"], [i])) for i in range(CALLERS)]  # type: ignore[arg-type]
    # Bounded: the bug this guards against left every caller waiting forever.
    _, pending = await asyncio.wait(calls, timeout=10)
    for call in pending:
        call.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    assert not pending, f"{len(pending)} of {CALLERS} callers never got an answer"
    return [call.exception() or call.result() for call in calls]


async def test_a_flushed_script_cache_is_reloaded_and_every_call_answered(
    redis_proc: RedisProc, admin: redis.Redis
) -> None:
    client = connect(redis_proc.url)
    batcher = ScriptBatcher(client)
    script = client.register_script("return tonumber(ARGV[1]) * 2")
    try:
        assert await _answers(batcher, script) == [i * 2 for i in range(CALLERS)]
        admin.script_flush()  # what a restarted Redis looks like to EVALSHA
        assert await _answers(batcher, script) == [i * 2 for i in range(CALLERS)]
    finally:
        await batcher.close()
        await client.aclose()


async def test_a_failing_reload_answers_every_caller_with_the_error(
    redis_proc: RedisProc, admin: redis.Redis
) -> None:
    # A user that may run scripts but not load them: after SCRIPT FLUSH the first attempt gets
    # NOSCRIPT and the reload is refused, deterministically, by the real server.
    user = f"batcher-{next(_users)}"
    admin.acl_setuser(
        user, enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-script|load"], reset=True
    )
    client = connect(f"redis://{user}:pw@127.0.0.1:{redis_proc.port}/0")
    batcher = ScriptBatcher(client)
    script = client.register_script("return 7")
    try:
        admin.script_flush()
        answers = await _answers(batcher, script)
        assert len(answers) == CALLERS
        assert all(isinstance(a, NoPermissionError) for a in answers), answers
    finally:
        await batcher.close()
        await client.aclose()
        admin.acl_deluser(user)


@pytest.mark.parametrize("own_connection", [True, False], ids=["redis-pipe", "redis-py-pipeline"])
async def test_plain_commands_ride_with_the_scripts_each_with_its_own_reply(
    redis_proc: RedisProc, admin: redis.Redis, own_connection: bool
) -> None:
    client = connect(redis_proc.url)
    batcher = ScriptBatcher(client, own_connection=own_connection)
    script = client.register_script("return tonumber(ARGV[1]) + 1")
    admin.delete("batcher:z", "batcher:s")
    admin.zadd("batcher:z", {"a": 1, "b": 2})
    admin.set("batcher:s", "text")
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(
                batcher.command("ZCARD", "batcher:z"),
                batcher.call(script, ["k"], [41]),  # type: ignore[arg-type]
                batcher.command("ZSCORE", "batcher:z", "b"),
                batcher.command("ZCARD", "batcher:s"),  # WRONGTYPE: this caller's error alone
                batcher.command("ZSCORE", "batcher:z", "nobody"),
                return_exceptions=True,
            ),
            10,
        )
        assert answers[:2] == [2, 42]
        assert float(answers[2]) == 2  # type: ignore[arg-type]  # text from hiredis, a float from redis-py
        assert isinstance(answers[3], redis.ResponseError) and "WRONGTYPE" in str(answers[3])
        assert answers[4] is None
    finally:
        await batcher.close()
        await client.aclose()
