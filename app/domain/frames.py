"""The server frames the domain itself builds: playback state and the user channel's controls.

They are part of the socket protocol (app/ws/protocol.py lists them with the rest); they live here so
that the domain publishes them without importing the ws layer.
"""

from __future__ import annotations

import datetime as dt

import msgspec


class PlaybackState(msgspec.Struct, kw_only=True, tag_field="type", tag="playback_state"):
    """Where the group's player is: `position` seconds at `updated_at` (server ms); when playing,
    the position now is position + (server_now - updated_at) / 1000 * rate."""

    group_id: int
    video_name: str | None
    position: float
    playing: bool
    rate: float
    updated_at: float
    server_time: float
    updated_by: int | None = None  # the member whose control set this state (None: not known)


class SessionEnded(msgspec.Struct, kw_only=True, tag_field="type", tag="session_ended"):
    """User channel control: close the sockets of `session_id` (all sessions when null) except
    `keep_session`."""

    user_id: int
    reason: str
    session_id: str | None = None
    keep_session: str | None = None


class GroupJoined(msgspec.Struct, kw_only=True, tag_field="type", tag="group_joined"):
    """User channel control: the user was added to a group; their sockets start following it."""

    group_id: int
    from_seq: int


def server_ms(now: dt.datetime | None = None) -> float:
    return (now or dt.datetime.now(dt.UTC)).timestamp() * 1000
