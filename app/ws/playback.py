"""Each group's playback state (video, position, playing, rate, server time): Redis or memory."""

from __future__ import annotations

from typing import Protocol

import msgspec
from redis.asyncio import Redis

from app.ws.protocol import PlaybackState

STATE_TTL_SECONDS = 7 * 86400
_decoder = msgspec.json.Decoder(PlaybackState)


class PlaybackStore(Protocol):
    async def get(self, group_id: int) -> PlaybackState | None: ...

    async def put(self, state: PlaybackState) -> None: ...


class MemoryPlayback:
    def __init__(self) -> None:
        self._states: dict[int, PlaybackState] = {}

    async def get(self, group_id: int) -> PlaybackState | None:
        return self._states.get(group_id)

    async def put(self, state: PlaybackState) -> None:
        self._states[state.group_id] = state


class RedisPlayback:
    def __init__(self, client: Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    async def get(self, group_id: int) -> PlaybackState | None:
        raw = await self._redis.get(f"{self._prefix}playback:{group_id}")
        return None if raw is None else _decoder.decode(raw)

    async def put(self, state: PlaybackState) -> None:
        await self._redis.set(
            f"{self._prefix}playback:{state.group_id}", msgspec.json.encode(state), ex=STATE_TTL_SECONDS
        )
