"""A task inside a Redis call stops when cancelled (Python 3.11's wait_for lost such cancels)."""

from __future__ import annotations

import asyncio
import random

import pytest

from live import cancellation
from live.redis_client import connect
from tests.support import RedisProc

TRIALS = 60  # each lost about one cancel in two before the fix: all 60 passing by luck is ~1e-18


async def _redis_loop(client: object, calls: list[int]) -> None:
    """What pin timers and hub readers do: Redis calls in a loop that survives Redis errors."""
    while True:
        await client.hget("cancellation-test", "seq")  # type: ignore[attr-defined]
        calls.append(1)
        await asyncio.sleep(0)


async def test_one_cancel_stops_a_task_inside_a_redis_call(
    redis_proc: RedisProc, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `live` installs at start (live.cli.main), for this test only.
    monkeypatch.setattr(asyncio, "wait_for", cancellation.wait_for)
    client = connect(redis_proc.url)
    rng = random.Random(7)
    lost = 0
    try:
        for _ in range(TRIALS):
            calls: list[int] = []
            task = asyncio.create_task(_redis_loop(client, calls))
            while len(calls) < rng.randrange(1, 4):
                await asyncio.sleep(0)
            task.cancel()
            _, pending = await asyncio.wait({task}, timeout=2)
            if pending:
                lost += 1
                await cancellation.cancel_and_wait(task)
    finally:
        await client.aclose()
    assert lost == 0, f"{lost} of {TRIALS} cancels were lost"


async def test_cancel_and_wait_stops_a_task_that_swallows_cancels() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while swallowed < 3:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                swallowed += 1
        await asyncio.sleep(10)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    assert await cancellation.cancel_and_wait(task, timeout_s=10)
    assert task.cancelled() and swallowed == 3


async def test_wait_for_still_times_out_and_returns() -> None:
    with pytest.raises(TimeoutError):
        await cancellation.wait_for(asyncio.sleep(10), 0.01)
    assert await cancellation.wait_for(asyncio.sleep(0, "done"), 1) == "done"
    assert await cancellation.wait_for(asyncio.sleep(0, "none"), None) == "none"
