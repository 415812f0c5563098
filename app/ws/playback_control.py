"""The group player's next state after a control (play, pause, seek, rate), stamped with server time."""

from __future__ import annotations

from app.domain.frames import PlaybackState
from app.ws.protocol import PlaybackControl


def next_state(
    previous: PlaybackState | None, group_id: int, frame: PlaybackControl, user_id: int, now: float
) -> PlaybackState:
    playing = {"play": True, "pause": False}.get(frame.video_action, previous.playing if previous else False)
    return PlaybackState(
        group_id=group_id,
        video_name=frame.video_name
        if frame.video_name is not None
        else (previous.video_name if previous else None),
        position=frame.video_time,
        playing=playing,
        rate=frame.rate if frame.video_action == "rate" else (previous.rate if previous else 1.0),
        updated_at=now,
        server_time=now,
        updated_by=user_id,
    )
