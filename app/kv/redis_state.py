"""Shared state in Redis: one atomic script per rate-limit hit, SET NX for claims."""

from __future__ import annotations

import contextlib
import random
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

# INCR and EXPIRE in one script so a crash between them cannot leave a counter that never expires.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 1 then ttl = 1 end
  return ttl
end
return 0
"""

# GET and TTL in one script, so the count and the window it belongs to agree.
_PEEK = """
local n = redis.call('GET', KEYS[1])
if not n then return {0, 0} end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 1 then ttl = 1 end
return {tonumber(n), ttl}
"""

REDIS_POOL_SIZE = 100  # connections per worker (per node of a cluster)

# What every Redis key user takes: one server, or a cluster (REDIS_CLUSTER=1). Each key user touches
# one key per command, script or transaction, so nothing needs keys to share a slot.
RedisClient = Redis | RedisCluster


def connect_redis(url: str) -> Redis:
    """One client (connection pool) per process, with timeouts so an outage fails fast. A pooled
    connection that died with a Redis restart is retried on a fresh one (a lost publish would
    otherwise leave sockets a message behind); a timeout is not retried, so a frozen Redis costs one
    timeout, not several."""
    pool = BlockingConnectionPool.from_url(
        url,
        # A burst (a thousand sockets closing at once, each leaving presence) waits up to 2 s for one
        # of the pool's connections instead of failing at once with MaxConnectionsError.
        max_connections=REDIS_POOL_SIZE,
        timeout=2,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=15,
        retry_on_timeout=False,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
        retry_on_error=[RedisConnectionError],
    )
    return Redis.from_pool(pool)


def connect_redis_cluster(url: str) -> RedisCluster:
    """The cluster client: `url` is any node; the others are found from the cluster's slot map, which
    is read again whenever a node answers MOVED or stops answering (a failover, a resharding)."""
    return RedisCluster.from_url(
        url,
        max_connections=REDIS_POOL_SIZE,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
    )


async def ping(client: RedisClient) -> None:
    """One server, or the first master of a cluster that answers: a master lost to a failover must
    not make every replica unready while the cluster promotes its replica."""
    if not isinstance(client, RedisCluster):
        await client.ping()
        return
    await client.initialize()
    masters = client.get_primaries()
    random.shuffle(masters)
    for master in masters[:-1]:
        with contextlib.suppress(RedisError, OSError):
            await client.ping(target_nodes=master)
            return
    await client.ping(target_nodes=masters[-1])


class RedisState:
    def __init__(self, client: RedisClient, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._hit: Any = client.register_script(_HIT)
        self._peek: Any = client.register_script(_PEEK)

    async def hit(self, key: str, limit: int, window_seconds: int) -> int:
        wait = await self._hit(keys=[f"{self._prefix}rl:{key}"], args=[window_seconds, limit])
        return int(wait)

    async def peek(self, key: str) -> tuple[int, int]:
        count, wait = await self._peek(keys=[f"{self._prefix}rl:{key}"])
        return int(count), int(wait)

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        return bool(await self._redis.set(f"{self._prefix}claim:{key}", b"1", nx=True, ex=ttl_seconds))

    async def ping(self) -> None:
        await ping(self._redis)

    async def close(self) -> None:
        return None  # the client is owned and closed by the app lifespan
