"""Fixtures for scale-out and fault tests: supervised `live serve`, a Redis of one's own to
kill, a three-master Redis Cluster, and nginx in front of two backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from kit.procs import LOAD_TEST_ENV, ClusterProcs, RedisProc
from kit.procs import ServerProc as LiveProc
from tests.support import new_prefix

# Servers that accept chat as fast as the tests post it (the per-user limits are tested elsewhere).
FAST_ENV = {**LOAD_TEST_ENV, "LIVE_CHAT_RATE_POSTS": "0", "LIVE_FRAMES_PER_S": "0"}


@pytest.fixture
def start_live(redis_proc: RedisProc) -> Iterator[Callable[..., LiveProc]]:
    """Start `live serve` processes (optionally --workers N) sharing one Redis and key prefix."""
    started: list[LiveProc] = []
    prefix = new_prefix()

    def start(
        redis_url: str | None = None,
        workers: int = 1,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> LiveProc:
        proc = LiveProc(
            redis_url or redis_proc.url, prefix, workers=workers, env={**FAST_ENV, **(env or {})}, args=args
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.cleanup()


@pytest.fixture
def own_redis() -> Iterator[Callable[..., RedisProc]]:
    """A redis-server of the test's own, which it may kill and restart (same port, same dir)."""
    started: list[RedisProc] = []

    def start(appendfsync: str = "always", extra: list[str] | None = None) -> RedisProc:
        proc = RedisProc(appendfsync=appendfsync, extra=extra).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterProcs]:
    procs = ClusterProcs(3)
    yield procs
    procs.stop()
