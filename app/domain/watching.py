"""Who is watching: the members of a group whose player is open, across every worker and replica.

A browser tab with the player open says so with `PUT /api/v1/groups/{id}/watching` (its `tab` id)
when it opens it and every 20 s after that, and `DELETE` when it closes it (or the tab goes away).
An entry lives WATCHING_TTL_SECONDS past its last renewal, so a tab that vanished without a word
fades out on its own. When the set of watching *members* changes, the group gets a `watching` frame
(`{"type": "watching", "group_id", "user_ids"}`) through the ordinary event path: no socket or
gateway change was needed, and clients that do not know the frame ignore it.

Redis: one sorted set per group, members `<user>:<tab>` scored by expiry, read and written in one
MULTI. Memory: the same in a dict, for the single-worker embedded mode. The routes are in
app/ws/watching_routes.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Annotated, Protocol

import msgspec

from app.kv.redis_state import RedisClient

WATCHING_TTL_SECONDS = 60
RENEW_SECONDS = 20  # what the SPA does; documented in docs/protocol.md
TAB_PATTERN = r"^[A-Za-z0-9_-]+$"
TabId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=TAB_PATTERN)]


class Watching(msgspec.Struct, kw_only=True, tag_field="type", tag="watching"):
    """The members of a group with the player open (sorted user ids)."""

    group_id: int
    user_ids: list[int]


class WatchingIn(msgspec.Struct, kw_only=True):
    tab: TabId  # one per browser tab: two tabs of a user are two entries, the user counts once


class WatchingOut(msgspec.Struct, kw_only=True):
    group_id: int
    user_ids: list[int]


class WatchingStore(Protocol):
    async def set(self, group_id: int, user_id: int, tab: str, on: bool) -> tuple[list[int], bool]:
        """Add (renew) or remove a tab's entry; the watching users after, and whether they changed."""
        ...

    async def watchers(self, group_id: int) -> list[int]: ...


def _users(entries: Iterable[bytes | str]) -> list[int]:
    """The users of `<user>:<tab>` entries, each once."""
    users = set()
    for entry in entries:
        text = entry.decode() if isinstance(entry, bytes) else entry
        users.add(int(text.split(":", 1)[0]))
    return sorted(users)


class MemoryWatching:
    def __init__(self) -> None:
        self._entries: dict[int, dict[str, float]] = {}

    def _live(self, group_id: int, now: float) -> dict[str, float]:
        entries = self._entries.setdefault(group_id, {})
        for key in [key for key, expiry in entries.items() if expiry <= now]:
            del entries[key]
        return entries

    async def set(self, group_id: int, user_id: int, tab: str, on: bool) -> tuple[list[int], bool]:
        now = time.time()
        entries = self._live(group_id, now)
        before = _users(entries)
        if on:
            entries[f"{user_id}:{tab}"] = now + WATCHING_TTL_SECONDS
        else:
            entries.pop(f"{user_id}:{tab}", None)
        after = _users(entries)
        if not entries:
            del self._entries[group_id]
        return after, after != before

    async def watchers(self, group_id: int) -> list[int]:
        return _users(self._live(group_id, time.time()))


class RedisWatching:
    def __init__(self, client: RedisClient, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, group_id: int) -> str:
        return f"{self._prefix}watching:{group_id}"

    async def set(self, group_id: int, user_id: int, tab: str, on: bool) -> tuple[list[int], bool]:
        key, now, member = self._key(group_id), time.time(), f"{user_id}:{tab}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zrange(key, 0, -1)
            if on:
                pipe.zadd(key, {member: now + WATCHING_TTL_SECONDS})
                pipe.expire(key, WATCHING_TTL_SECONDS * 2)
            else:
                pipe.zrem(key, member)
            pipe.zrange(key, 0, -1)
            results = await pipe.execute()
        before, after = _users(results[1]), _users(results[-1])
        return after, after != before

    async def watchers(self, group_id: int) -> list[int]:
        entries: list[bytes] = await self._redis.zrangebyscore(self._key(group_id), time.time(), "+inf")  # type: ignore[assignment]
        return _users(entries)
