"""A deleted group's playback state goes with it, so nothing of its player (the video's name, the
position) reaches a group that later gets the same id. Best effort, like every playback write: the
group is already deleted, and ids are never reused anyway.
"""

from __future__ import annotations

import logging

from app.domain.playback import PlaybackStore

log = logging.getLogger("huddle.groups")


async def forget_playback(store: PlaybackStore, group_id: int) -> None:
    try:
        await store.delete(group_id)
    except Exception as error:  # noqa: BLE001 -- Redis down: the key expires on its own
        log.warning("playback state of deleted group %s not cleared: %s", group_id, type(error).__name__)
