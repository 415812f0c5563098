"""A deleted group's playback state goes with it, so nothing of its player (the video's name, the
position) reaches a group that later gets the same id.

The playback store (app/ws/playback.py) has only `get` and `put`: the state is replaced by a stopped
one that names no video. Best effort, like every playback write: the group is already deleted.
"""

from __future__ import annotations

import logging

from app.ws.playback import PlaybackStore
from app.ws.protocol import PlaybackState, server_ms

log = logging.getLogger("huddle.groups")


async def forget_playback(store: PlaybackStore, group_id: int) -> None:
    try:
        if await store.get(group_id) is None:
            return
        now = server_ms()
        await store.put(
            PlaybackState(
                group_id=group_id,
                video_name=None,
                position=0.0,
                playing=False,
                rate=1.0,
                updated_at=now,
                server_time=now,
            )
        )
    except Exception as error:  # noqa: BLE001 -- Redis down: ids are never reused anyway
        log.warning("playback state of deleted group %s not cleared: %s", group_id, type(error).__name__)
