"""How many sockets each user holds, across every worker and replica, so one user cannot hold them
without limit (WS_SOCKETS_PER_USER).

Redis: one sorted set per user whose members are `<worker>:<socket>` scored by expiry; workers renew
their entries on the presence heartbeat, so a crashed worker's sockets stop counting on their own.
Memory: a set per user, for the single-worker embedded mode.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

from app.kv.redis_state import RedisClient
from app.ws.presence import ENTRY_TTL_SECONDS


class SocketQuota(Protocol):
    async def take(self, user_id: int, socket_id: int) -> bool:
        """Count a new socket of the user; False (and not counted) when the user is at the limit."""
        ...

    async def give_back(self, user_id: int, socket_id: int) -> None: ...

    async def heartbeat(self, sockets: Iterable[tuple[int, int]]) -> None:
        """Renew the entries of this worker's open sockets, as (user id, socket id)."""
        ...


class MemorySocketQuota:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: defaultdict[int, set[int]] = defaultdict(set)

    async def take(self, user_id: int, socket_id: int) -> bool:
        sockets = self._open[user_id]
        if len(sockets) >= self._limit:
            return False
        sockets.add(socket_id)
        return True

    async def give_back(self, user_id: int, socket_id: int) -> None:
        sockets = self._open.get(user_id)
        if sockets is not None:
            sockets.discard(socket_id)
            if not sockets:
                del self._open[user_id]

    async def heartbeat(self, sockets: Iterable[tuple[int, int]]) -> None:
        del sockets  # in-process entries never expire


# Drop expired entries, then count and add in one step: two workers admitting the same user's sockets
# at once cannot both take the last place.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class RedisSocketQuota:
    def __init__(self, client: RedisClient, prefix: str, limit: int) -> None:
        self._redis = client
        self._prefix = prefix
        self._limit = limit
        self._worker = uuid.uuid4().hex[:12]
        self._take: Any = client.register_script(_TAKE)

    def _key(self, user_id: int) -> str:
        return f"{self._prefix}sockets:{user_id}"

    def _member(self, socket_id: int) -> str:
        return f"{self._worker}:{socket_id}"

    async def take(self, user_id: int, socket_id: int) -> bool:
        now = time.time()
        args = [self._member(socket_id), now, now + ENTRY_TTL_SECONDS, self._limit, ENTRY_TTL_SECONDS * 2]
        return bool(await self._take(keys=[self._key(user_id)], args=args))

    async def give_back(self, user_id: int, socket_id: int) -> None:
        await self._redis.zrem(self._key(user_id), self._member(socket_id))

    async def heartbeat(self, sockets: Iterable[tuple[int, int]]) -> None:
        expiry = time.time() + ENTRY_TTL_SECONDS
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id, socket_id in sockets:
                pipe.zadd(self._key(user_id), {self._member(socket_id): expiry})
                pipe.expire(self._key(user_id), ENTRY_TTL_SECONDS * 2)
            await pipe.execute()
