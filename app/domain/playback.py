"""Each group's playback state (video, position, playing, rate, server time): Redis or memory.

The state names its video (the seed's `video_control` does), so renaming or deleting that video moves
the state with it (`follow_video`): members joining later would otherwise look for a name that is gone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

import msgspec

from app.domain.frames import PlaybackState, server_ms
from app.kv.redis_state import RedisClient

if TYPE_CHECKING:
    from app.domain.events import Events

log = logging.getLogger("huddle.ws")
STATE_TTL_SECONDS = 7 * 86400
_decoder = msgspec.json.Decoder(PlaybackState)


class PlaybackStore(Protocol):
    async def get(self, group_id: int) -> PlaybackState | None: ...

    async def put(self, state: PlaybackState) -> None: ...

    async def delete(self, group_id: int) -> None: ...


class MemoryPlayback:
    def __init__(self) -> None:
        self._states: dict[int, PlaybackState] = {}

    async def get(self, group_id: int) -> PlaybackState | None:
        return self._states.get(group_id)

    async def put(self, state: PlaybackState) -> None:
        self._states[state.group_id] = state

    async def delete(self, group_id: int) -> None:
        self._states.pop(group_id, None)


class RedisPlayback:
    def __init__(self, client: RedisClient, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    async def get(self, group_id: int) -> PlaybackState | None:
        raw = await self._redis.get(f"{self._prefix}playback:{group_id}")
        return None if raw is None else _decoder.decode(raw)

    async def put(self, state: PlaybackState) -> None:
        await self._redis.set(
            f"{self._prefix}playback:{state.group_id}", msgspec.json.encode(state), ex=STATE_TTL_SECONDS
        )

    async def delete(self, group_id: int) -> None:
        await self._redis.delete(f"{self._prefix}playback:{group_id}")


async def follow_video(
    store: PlaybackStore, events: Events, group_id: int, name: str, new_name: str | None
) -> None:
    """The group's video `name` was renamed to `new_name`, or deleted (None). A state naming it
    follows, and the group is told: renamed, it plays on unchanged; deleted, it stops where it was.
    Best effort, like the event that announced the change: the video itself is already committed."""
    try:
        await _follow_video(store, events, group_id, name, new_name)
    except Exception as error:  # noqa: BLE001 -- Redis down: the next control sets a fresh state
        log.warning("playback state of group %s not moved: %s", group_id, type(error).__name__)


async def _follow_video(
    store: PlaybackStore, events: Events, group_id: int, name: str, new_name: str | None
) -> None:
    state = await store.get(group_id)
    if state is None or state.video_name != name:
        return
    now = server_ms()
    if new_name is not None:
        state = msgspec.structs.replace(state, video_name=new_name, server_time=now)
    else:
        elapsed = max(0.0, now - state.updated_at) / 1000 * state.rate if state.playing else 0.0
        state = msgspec.structs.replace(
            state,
            video_name=None,
            playing=False,
            position=state.position + elapsed,
            updated_at=now,
            server_time=now,
        )
    await store.put(state)
    await events.to_group(group_id, state)
