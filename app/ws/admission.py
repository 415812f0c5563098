"""Admission: how many sockets set up at once per worker, and the per-user socket quota."""

from __future__ import annotations

import logging

from app.ws.socket_quota import SocketQuota

log = logging.getLogger("huddle.ws")
SETUP_SLOTS = 16  # sockets authenticating and loading their groups at once per worker


async def admit(quota: SocketQuota, user_id: int, connection_id: int) -> bool:
    """Count a socket or stream against the user's quota; False when the user is at the limit."""
    try:
        return await quota.take(user_id, connection_id)
    except Exception as error:  # noqa: BLE001 -- Redis down: a limit must not lock everyone out
        log.warning("socket quota unavailable (%s); admitting the connection", type(error).__name__)
        return True
