"""Fixtures: a real redis-server per session, real `live serve` processes per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support import RedisProc, ServerProc, new_prefix


@pytest.fixture(scope="session")
def redis_proc() -> Iterator[RedisProc]:
    proc = RedisProc().start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def redis_url(redis_proc: RedisProc) -> str:
    return redis_proc.url


@pytest.fixture(scope="session")
def shared_server(redis_proc: RedisProc) -> Iterator[ServerProc]:
    """One server for the many tests that only need their own room (unique room ids)."""
    server = ServerProc(redis_proc.url, new_prefix())
    yield server
    server.stop()


@pytest.fixture
def start_server(redis_proc: RedisProc) -> Iterator[Callable[..., ServerProc]]:
    """Start `live serve` processes sharing one Redis and one key prefix (one service)."""
    started: list[ServerProc] = []
    prefix = new_prefix()

    def start(
        env: dict[str, str] | None = None,
        redis_url: str | None = None,
        args: list[str] | None = None,
        dev: bool = True,
    ) -> ServerProc:
        server = ServerProc(redis_url or redis_proc.url, prefix, env, args, dev)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def live_server(start_server: Callable[..., ServerProc]) -> ServerProc:
    return start_server()
