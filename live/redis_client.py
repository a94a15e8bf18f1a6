"""Redis clients from a URL: ``redis://``, ``rediss://``, ``unix://``, or ``redis+cluster://`` for a cluster.

``redis+cluster://host:port`` (any one node; the others are discovered) gives redis-py's asyncio
``RedisCluster``. Every key of a room carries the hash tag ``{room:<id>}``, so each Lua script
and each pipelined script call of a room goes to the one shard that owns it; the service-wide
keys (``rooms``, ``pin_timers``) live in slots of their own and no script touches them.

Two settings matter under faults and load:

- Retries: a command that fails with a *connection* error is sent once more on a fresh
  connection (after Redis restarted, every pooled connection is dead; one retry spares the
  first request on each of them an ``unavailable``). A *timeout* is not retried: the command
  may have run, and a chat post is not idempotent.
- Pool size: redis-py's asyncio pool refuses a command ("Too many connections") once 100 are in
  use, which a burst of reconnecting viewers reaches at once. The standalone client uses a
  blocking pool instead (a command waits for a free connection, up to the socket timeout); the
  cluster client has no blocking pool, so its per-node limit is set high.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

CLUSTER_SCHEME = "redis+cluster://"
DEFAULT_MAX_CONNECTIONS = 128  # per process (per node for a cluster: see CLUSTER_MAX_CONNECTIONS)
CLUSTER_MAX_CONNECTIONS = 4096  # per node: the cluster client fails past it instead of waiting
UNLIMITED = 2**31  # max_connections=0: one connection per concurrent command, never waiting


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME)


def plain_url(url: str) -> str:
    """``redis+cluster://h:p`` -> ``redis://h:p`` (what redis-py's cluster client parses)."""
    return "redis://" + url[len(CLUSTER_SCHEME) :] if is_cluster_url(url) else url


def connect(url: str, *, socket_timeout_s: float = 5.0, max_connections: int | None = None) -> Any:
    """A client that fails fast when Redis is gone (a clear error beats a hang).

    ``max_connections``: None = ``DEFAULT_MAX_CONNECTIONS`` shared by all commands, a command
    waiting (up to ``socket_timeout_s``) when all are busy; 0 = no limit, for a client whose
    commands block on purpose (the hubs' ``XREAD BLOCK``, one connection per hub).
    """
    common: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": socket_timeout_s,
        "socket_connect_timeout": 2.0,
        "retry": Retry(
            ExponentialBackoff(cap=0.5, base=0.05), retries=1, supported_errors=(RedisConnectionError,)
        ),
        "health_check_interval": 0,
    }
    if is_cluster_url(url):
        per_node = UNLIMITED if max_connections == 0 else max(max_connections or 0, CLUSTER_MAX_CONNECTIONS)
        return RedisCluster.from_url(plain_url(url), max_connections=per_node, **common)
    if max_connections == 0:
        return aioredis.from_url(url, max_connections=UNLIMITED, **common)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections or DEFAULT_MAX_CONNECTIONS, timeout=socket_timeout_s, **common
    )
    return aioredis.Redis.from_pool(pool)
