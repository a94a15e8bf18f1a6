"""The outbox scripts against a real Redis, time passed in: hooks_claim/result/take/reschedule.lua."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from live.keys import RoomKeys, hook_history, hook_rooms
from live.redis_client import connect
from live.scripts import load
from live.webhooks.outbox import Outbox
from tests.live.webhooks_kit import envelope, seed
from tests.support import new_prefix

T0 = 1_700_000_000_000
LEASE = 10_000


@pytest.fixture
async def outbox(redis_url: str) -> AsyncIterator[Outbox]:
    redis = connect(redis_url)
    yield Outbox(redis, new_prefix())
    await redis.aclose()


def keys(outbox: Outbox, room: str = "r1") -> RoomKeys:
    return outbox.keys(room)


async def test_claim_leases_due_events_only_and_hands_the_stored_bytes(outbox: Outbox) -> None:
    ids = await seed(outbox.redis, outbox.prefix, "r1", 3, T0)
    await outbox.redis.zadd(keys(outbox).hooks_due, {ids[2]: T0 + 5000})  # not due yet
    claim = await outbox.claim("r1", T0, LEASE, 10)
    assert [e.id for e in claim.events] == ids[:2]
    assert claim.events[0].envelope == envelope("r1", 1, T0).decode()
    assert (claim.events[0].attempts, claim.events[0].first_attempt_ms) == (0, None)
    assert claim.events[0].lease_until == T0 + LEASE
    assert claim.view.next_due_ms == T0 + 5000 and claim.view.hook_n == 3 and not claim.view.ended
    due = dict(await outbox.redis.zrange(keys(outbox).hooks_due, 0, -1, withscores=True))
    assert due == {ids[0]: T0 + LEASE, ids[1]: T0 + LEASE, ids[2]: T0 + 5000}


async def test_a_leased_event_is_not_claimed_again_until_its_lease_runs_out(outbox: Outbox) -> None:
    ids = await seed(outbox.redis, outbox.prefix, "r1", 2, T0)
    assert len((await outbox.claim("r1", T0, LEASE, 10)).events) == 2
    assert (await outbox.claim("r1", T0 + LEASE - 1, LEASE, 10)).events == []
    # The process that held it was killed: at the lease's end any process takes it again.
    again = await outbox.claim("r1", T0 + LEASE, LEASE, 10)
    assert [e.id for e in again.events] == ids
    assert again.events[0].lease_until == T0 + 2 * LEASE


async def test_claim_takes_at_most_n_and_zero_only_looks(outbox: Outbox) -> None:
    await seed(outbox.redis, outbox.prefix, "r1", 5, T0, status="ended")
    look = await outbox.claim("r1", T0, LEASE, 0)
    assert look.events == [] and look.view.next_due_ms == T0 and look.view.ended
    assert len((await outbox.claim("r1", T0, LEASE, 2)).events) == 2
    assert len((await outbox.claim("r1", T0, LEASE, 10)).events) == 3


async def test_a_due_without_its_event_is_dropped(outbox: Outbox) -> None:
    await outbox.redis.zadd(keys(outbox).hooks_due, {"evt_r1_9": T0})
    claim = await outbox.claim("r1", T0, LEASE, 10)
    assert claim.events == [] and claim.view.next_due_ms is None


async def test_delivered_moves_the_event_to_the_delivered_set_with_its_attempts(outbox: Outbox) -> None:
    await seed(outbox.redis, outbox.prefix, "r1", 1, T0)
    [event] = (await outbox.claim("r1", T0, LEASE, 10)).events
    verdict, view = await outbox.record(
        "r1", event, T0 + 50, "delivered", 0, {"at_ms": T0 + 50, "status": 204}
    )
    assert verdict == "ok" and view.next_due_ms is None and view.hook_n == 1
    k, r = keys(outbox), outbox.redis
    assert await r.hlen(k.hooks) == 0 and await r.zcard(k.hooks_due) == 0 and await r.zcard(k.hooks_born) == 0
    assert await r.zrange(k.hooks_delivered, 0, -1, withscores=True) == [(event.id, T0 + 50)]
    assert await r.hget(k.hooks_done, event.id) == event.envelope
    assert orjson.loads(await r.hget(k.hooks_attempts, event.id)) == [{"at_ms": T0 + 50, "status": 204}]
    assert await r.zscore(hook_history(outbox.prefix), "r1") == T0 + 50


async def test_a_failure_is_retried_at_the_due_given_and_the_log_grows(outbox: Outbox) -> None:
    await seed(outbox.redis, outbox.prefix, "r1", 1, T0)
    [event] = (await outbox.claim("r1", T0, LEASE, 10)).events
    verdict, view = await outbox.record("r1", event, T0, "retry", T0 + 1000, {"at_ms": T0, "status": 500})
    assert verdict == "ok" and view.next_due_ms == T0 + 1000
    assert (await outbox.claim("r1", T0 + 999, LEASE, 10)).events == []
    [again] = (await outbox.claim("r1", T0 + 1000, LEASE, 10)).events
    assert (again.attempts, again.first_attempt_ms) == (1, T0)
    error = {"at_ms": T0 + 1000, "error": 'ConnectError: "refused" / {}'}
    await outbox.record("r1", again, T0 + 1000, "retry", T0 + 3000, error)
    log = orjson.loads(await outbox.redis.hget(keys(outbox).hooks_attempts, event.id))
    assert log == [{"at_ms": T0, "status": 500}, error]


async def test_failed_moves_the_event_to_the_failed_set(outbox: Outbox) -> None:
    await seed(outbox.redis, outbox.prefix, "r1", 1, T0)
    [event] = (await outbox.claim("r1", T0, LEASE, 10)).events
    verdict, view = await outbox.record("r1", event, T0, "failed", 0, {"at_ms": T0, "status": 410})
    assert verdict == "ok" and view.next_due_ms is None
    k = keys(outbox)
    assert await outbox.redis.zrange(k.hooks_failed, 0, -1) == [event.id]
    assert await outbox.redis.zcard(k.hooks_delivered) == 0 and await outbox.redis.hlen(k.hooks) == 0


async def test_a_failure_under_a_lease_that_passed_on_is_not_recorded(outbox: Outbox) -> None:
    await seed(outbox.redis, outbox.prefix, "r1", 1, T0)
    [first] = (await outbox.claim("r1", T0, LEASE, 10)).events
    [second] = (await outbox.claim("r1", T0 + LEASE, LEASE, 10)).events  # the first holder stalled
    verdict, _ = await outbox.record(
        "r1", first, T0 + LEASE + 1, "retry", T0 + 99_000, {"at_ms": 1, "status": 500}
    )
    assert verdict == "stale"
    assert await outbox.redis.hget(keys(outbox).hooks_attempts, first.id) is None
    assert await outbox.redis.zscore(keys(outbox).hooks_due, first.id) == second.lease_until


async def test_a_2xx_counts_whoever_holds_the_lease_and_only_once(outbox: Outbox) -> None:
    await seed(outbox.redis, outbox.prefix, "r1", 1, T0)
    [first] = (await outbox.claim("r1", T0, LEASE, 10)).events
    [second] = (await outbox.claim("r1", T0 + LEASE, LEASE, 10)).events
    ok = {"at_ms": T0 + LEASE + 5, "status": 200}
    assert (await outbox.record("r1", first, T0 + LEASE + 5, "delivered", 0, ok))[0] == "ok"
    assert (await outbox.record("r1", second, T0 + LEASE + 6, "delivered", 0, ok))[0] == "gone"
    log = orjson.loads(await outbox.redis.hget(keys(outbox).hooks_attempts, first.id))
    assert log == [ok]  # one 2xx recorded per id


async def test_archive_keeps_the_newest_and_attempts_keep_the_first_and_latest(outbox: Outbox) -> None:
    """The raw script with small bounds: keep 3 delivered, 3 attempts per event."""
    result = load(outbox.redis, "hooks_result")
    k = keys(outbox)
    ids = await seed(outbox.redis, outbox.prefix, "r1", 5, T0)

    async def record(now: int, event_id: str, outcome: str, due: int, attempt: dict[str, Any]) -> Any:
        lease = int(await outbox.redis.zscore(k.hooks_due, event_id))
        args: list[int | str | bytes] = [now, event_id, lease, outcome, due, orjson.dumps(attempt), 3, 3]
        return await result(keys=k.hooks_result_keys(), args=args)

    for attempt in range(4):
        await record(T0 + attempt, ids[0], "retry", T0, {"at_ms": T0 + attempt, "status": 500 + attempt})
    log = orjson.loads(await outbox.redis.hget(k.hooks_attempts, ids[0]))
    assert [a["status"] for a in log] == [500, 502, 503]  # the first, then the latest
    assert await outbox.redis.hget(k.hooks_attempts, f"{ids[0]}:n") == "4"
    for i, event_id in enumerate(ids):
        await record(T0 + 100 + i, event_id, "delivered", 0, {"at_ms": T0 + 100 + i, "status": 200})
    assert await outbox.redis.zrange(k.hooks_delivered, 0, -1) == ids[2:]
    assert sorted(await outbox.redis.hkeys(k.hooks_done)) == sorted(ids[2:])
    assert await outbox.redis.hget(k.hooks_attempts, ids[0]) is None
    assert await outbox.redis.hget(k.hooks_attempts, f"{ids[0]}:n") is None


async def test_take_leases_due_rooms_and_reschedule_sets_them_back(outbox: Outbox) -> None:
    index = hook_rooms(outbox.prefix)
    await outbox.redis.zadd(index, {"a": T0 - 1, "b": T0, "c": T0 + 1})
    assert sorted(await outbox.take_rooms(T0, T0 + LEASE, 10)) == ["a", "b"]
    assert await outbox.take_rooms(T0, T0 + LEASE, 10) == []  # leased
    assert await outbox.take_rooms(T0 + 1, T0 + 1 + LEASE, 1) == ["c"]
    assert await outbox.reschedule("a", T0 + LEASE, T0 + 500)
    assert await outbox.redis.zscore(index, "a") == T0 + 500
    assert await outbox.reschedule("b", T0 + LEASE, None)  # an ended room with nothing pending
    assert await outbox.redis.zscore(index, "b") is None


async def test_reschedule_keeps_an_earlier_due_set_by_a_writer_and_never_removes_then(outbox: Outbox) -> None:
    index = hook_rooms(outbox.prefix)
    await outbox.redis.zadd(index, {"a": T0, "b": T0})
    await outbox.take_rooms(T0, T0 + LEASE, 10)
    await outbox.touch("a", T0 + 7)  # a writer's new event while the room was being worked
    await outbox.touch("b", T0 + 7)
    assert not await outbox.reschedule("a", T0 + LEASE, T0 + 60_000)
    assert await outbox.redis.zscore(index, "a") == T0 + 7
    assert not await outbox.reschedule("b", T0 + LEASE, None)
    assert await outbox.redis.zscore(index, "b") == T0 + 7
    # A room removed meanwhile (another process found it empty) comes back with a due.
    assert not await outbox.reschedule("gone", T0 + LEASE, T0 + 9)
    assert await outbox.redis.zscore(index, "gone") == T0 + 9


async def test_sample_counts_pending_and_the_oldest_ones_age(outbox: Outbox) -> None:
    assert await outbox.sample(T0) == (0, 0)
    await seed(outbox.redis, outbox.prefix, "r1", 2, T0)
    await seed(outbox.redis, outbox.prefix, "r2", 3, T0 + 1000)
    assert await outbox.sample(T0 + 5000) == (5, 5000)
    # Leased (its due moves on), then retried: its age still counts from created_ms.
    [first, _] = (await outbox.claim("r1", T0 + 5000, LEASE, 10)).events
    await outbox.record("r1", first, T0 + 5000, "retry", T0 + 90_000, {"at_ms": T0 + 5000, "status": 500})
    assert await outbox.sample(T0 + 6000) == (5, 6000)
