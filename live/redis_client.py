"""Redis clients from a URL: ``redis://``, ``rediss://``, ``unix://``, or ``redis+cluster://`` for a cluster."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

CLUSTER_SCHEME = "redis+cluster://"


def connect(url: str, *, socket_timeout_s: float = 5.0, max_connections: int | None = None) -> Any:
    """A client that fails fast when Redis is gone (a clear error beats a hang)."""
    common: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": socket_timeout_s,
        "socket_connect_timeout": 2.0,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
        "health_check_interval": 0,
    }
    if url.startswith(CLUSTER_SCHEME):
        return RedisCluster.from_url("redis://" + url[len(CLUSTER_SCHEME) :], **common)
    if max_connections is not None:
        common["max_connections"] = max_connections
    return aioredis.from_url(url, **common)
