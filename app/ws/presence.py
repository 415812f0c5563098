"""Who is online in each group, across every worker and replica.

Redis: one sorted set per group whose members are `<user>:<worker>` scored by expiry; workers renew
their entries on a heartbeat, so a crashed worker's users fade out on their own. Memory: counters,
for the single-worker embedded mode.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

from app.kv.redis_state import RedisClient

HEARTBEAT_SECONDS = 15
ENTRY_TTL_SECONDS = 45


class PresenceStore(Protocol):
    async def join(self, group_id: int, user_id: int) -> bool:
        """Record a user's socket in this worker; True when the user was offline before."""
        ...

    async def leave(self, group_id: int, user_id: int) -> bool:
        """Drop this worker's entry; True when the user has no socket anywhere now."""
        ...

    async def online(self, group_id: int) -> list[int]: ...

    async def heartbeat(self, pairs: Iterable[tuple[int, int]]) -> None: ...


class MemoryPresence:
    def __init__(self) -> None:
        self._counts: defaultdict[int, Counter[int]] = defaultdict(Counter)

    async def join(self, group_id: int, user_id: int) -> bool:
        self._counts[group_id][user_id] += 1
        return self._counts[group_id][user_id] == 1

    async def leave(self, group_id: int, user_id: int) -> bool:
        counts = self._counts[group_id]
        counts[user_id] -= 1
        if counts[user_id] <= 0:
            del counts[user_id]
            return True
        return False

    async def online(self, group_id: int) -> list[int]:
        return sorted(self._counts.get(group_id, {}))

    async def heartbeat(self, pairs: Iterable[tuple[int, int]]) -> None:
        del pairs  # in-process counts never expire


# Both scripts first drop expired entries, then answer whether another live entry of the user exists.
_JOIN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local others = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if member ~= ARGV[1] and string.sub(member, 1, string.len(ARGV[2])) == ARGV[2] then others = 1 end
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
if others == 0 then return 1 end
return 0
"""
_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, string.len(ARGV[2])) == ARGV[2] then return 0 end
end
return 1
"""


class RedisPresence:
    def __init__(self, client: RedisClient, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._worker = uuid.uuid4().hex[:12]
        self._join: Any = client.register_script(_JOIN)
        self._leave: Any = client.register_script(_LEAVE)

    def _key(self, group_id: int) -> str:
        return f"{self._prefix}presence:{group_id}"

    def _member(self, user_id: int) -> str:
        return f"{user_id}:{self._worker}"

    async def join(self, group_id: int, user_id: int) -> bool:
        now = time.time()
        args = [self._member(user_id), f"{user_id}:", now, now + ENTRY_TTL_SECONDS, ENTRY_TTL_SECONDS * 2]
        return bool(await self._join(keys=[self._key(group_id)], args=args))

    async def leave(self, group_id: int, user_id: int) -> bool:
        args = [self._member(user_id), f"{user_id}:", time.time()]
        return bool(await self._leave(keys=[self._key(group_id)], args=args))

    async def online(self, group_id: int) -> list[int]:
        members: list[bytes] = await self._redis.zrangebyscore(self._key(group_id), time.time(), "+inf")  # type: ignore[assignment]
        return sorted({int(member.split(b":", 1)[0]) for member in members})

    async def heartbeat(self, pairs: Iterable[tuple[int, int]]) -> None:
        expiry = time.time() + ENTRY_TTL_SECONDS
        async with self._redis.pipeline(transaction=False) as pipe:
            for group_id, user_id in pairs:
                pipe.zadd(self._key(group_id), {self._member(user_id): expiry})
                pipe.expire(self._key(group_id), ENTRY_TTL_SECONDS * 2)
            await pipe.execute()
