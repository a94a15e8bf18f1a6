"""live/redis_client.py: pools that survive bursts, and a retry that survives a Redis restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
import pytest
import redis.asyncio as aioredis
import websockets
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry

from live.redis_client import DEFAULT_MAX_CONNECTIONS, connect
from tests.scale.procs import ClusterProcs, LiveProc
from tests.support import RedisProc, make_room


async def test_standalone_client_waits_for_a_connection_instead_of_failing(redis_url: str) -> None:
    client = connect(redis_url, max_connections=4)
    try:
        pool = client.connection_pool
        assert isinstance(pool, aioredis.BlockingConnectionPool) and pool.max_connections == 4
        assert isinstance(client.get_retry(), Retry)  # the asyncio Retry: the sync one never retries
        # 200 concurrent commands through 4 connections: all answered, none refused.
        replies = await asyncio.gather(*(client.echo(str(i)) for i in range(200)))
        assert replies == [str(i) for i in range(200)]
        assert len(pool._in_use_connections) + len(pool._available_connections) <= 4
    finally:
        await client.aclose()
    default = connect(redis_url)
    assert default.connection_pool.max_connections == DEFAULT_MAX_CONNECTIONS
    await default.aclose()
    blocking_reads = connect(redis_url, max_connections=0)
    assert blocking_reads.connection_pool.max_connections >= 2**31
    await blocking_reads.aclose()


async def test_first_command_after_a_redis_restart_succeeds(own_redis: Callable[..., RedisProc]) -> None:
    proc = own_redis()  # appendfsync always: what was acked is on disk (everysec may hold writes back
    # for up to 2 s while a slow fsync runs, and a kill -9 then loses them)
    client = connect(proc.url)
    try:
        await asyncio.gather(*(client.incr("n") for _ in range(8)))  # several pooled connections
        proc.kill()
        with pytest.raises(aioredis.ConnectionError):
            await client.get("n")
        proc.start()
        # Every pooled connection is dead; each command retries once on a fresh one.
        assert await asyncio.gather(*(client.ping() for _ in range(8))) == [True] * 8
        # A killed redis-server loses nothing it acknowledged.
        assert int(await client.get("n")) == 8
    finally:
        await client.aclose()


async def test_cluster_url_gives_a_cluster_client(cluster: ClusterProcs) -> None:
    client = connect(cluster.url)
    try:
        assert isinstance(client, RedisCluster)
        await client.set("{room:x}:k", "v")
        assert await client.get("{room:x}:k") == "v"
        assert len(client.get_primaries()) == 3
    finally:
        await client.aclose()


@pytest.mark.parametrize("where", ["standalone", "cluster"])
async def test_a_burst_of_viewers_all_get_hello(
    where: str, cluster: ClusterProcs, start_live: Callable[..., LiveProc]
) -> None:
    """300 viewers connecting at once (what a killed process's viewers do) outnumber any fixed pool."""
    server = start_live(redis_url=cluster.url) if where == "cluster" else start_live()
    room, _ = await make_room(server)

    async def one(i: int) -> tuple[object, str]:
        ws = await websockets.connect(
            f"{server.ws_url}/ws/{room}?token={server.token(name=f'u{i}', sub=f'u{i}')}",
            compression=None,
            open_timeout=30,
        )
        first = orjson.loads(await asyncio.wait_for(ws.recv(), 30))[0]
        return ws, first.get("code") or first["t"]

    results = await asyncio.gather(*(one(i) for i in range(300)))
    assert [t for _, t in results] == ["hello"] * 300
    for ws, _ in results:
        await ws.close()  # type: ignore[attr-defined]
