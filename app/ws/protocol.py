"""The WebSocket protocol: client frames (one msgspec decoder over a tagged union) and the server
frames that are not messages (those live in app.domain.messages.schemas). docs/protocol.md is the
prose version; tests/unit/test_protocol_shapes.py pins every shape."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.domain.ids import IdValue, SeqValue
from app.domain.messages.schemas import AttachmentIds, ClientMsgId, MessageText, Seq, require_content

FRAME_MAX_BYTES = 64 * 1024
GroupId = IdValue
VideoAction = Literal["play", "pause", "seek", "rate"]


# -- client -> server -------------------------------------------------------------------------------


class SendFrame(msgspec.Struct, tag_field="type", tag="message", forbid_unknown_fields=False):
    text: MessageText | None = None  # required unless attachment_ids has some
    group_id: GroupId | None = None  # optional on /ws/group/{id}
    client_msg_id: ClientMsgId | None = None
    reply_to: Seq | None = None
    attachment_ids: AttachmentIds = []

    def __post_init__(self) -> None:
        require_content(self.text, self.attachment_ids)


class TypingFrame(msgspec.Struct, tag_field="type", tag="typing"):
    group_id: GroupId | None = None
    active: bool = True  # false: stopped typing (the box was cleared, the chat or tab closed)


class SeenFrame(msgspec.Struct, tag_field="type", tag="seen"):
    seq: SeqValue
    group_id: GroupId | None = None


class PlaybackControl(msgspec.Struct, kw_only=True):
    """A playback control: over the socket as `video_control`, over HTTP as `POST .../playback`."""

    video_action: VideoAction
    video_time: Annotated[float, msgspec.Meta(ge=0, le=10**7)] = 0.0
    video_name: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    rate: Annotated[float, msgspec.Meta(gt=0, le=4)] = 1.0


class VideoControlFrame(PlaybackControl, kw_only=True, tag_field="type", tag="video_control"):
    group_id: GroupId | None = None


class PingFrame(msgspec.Struct, tag_field="type", tag="ping"):
    t: float = 0.0  # the client's clock (ms), echoed back for offset and delay estimation


class ResumeFrame(msgspec.Struct, tag_field="type", tag="resume"):
    """The last seq seen per group (null: never connected, send the latest messages)."""

    groups: dict[int, SeqValue | None]


class SubscribeFrame(ResumeFrame, tag="subscribe"):
    pass


ClientFrame = (
    SendFrame | TypingFrame | SeenFrame | VideoControlFrame | PingFrame | ResumeFrame | SubscribeFrame
)


# -- server -> client (besides the message frames) -----------------------------------------------


class Ready(msgspec.Struct, kw_only=True, tag_field="type", tag="ready"):
    user_id: int
    groups: list[int]
    server_time: float  # ms since the epoch


class Ack(msgspec.Struct, kw_only=True, tag_field="type", tag="ack"):
    client_msg_id: str | None
    id: str
    seq: int
    group_id: int


class ErrorFrame(msgspec.Struct, kw_only=True, tag_field="type", tag="error", omit_defaults=True):
    code: str
    detail: str
    client_msg_id: str | None = None


class Reset(msgspec.Struct, kw_only=True, tag_field="type", tag="reset"):
    """Too much was missed to replay: reload history over HTTP, then carry on from `latest_seq`."""

    group_id: int
    latest_seq: int


class Pong(msgspec.Struct, kw_only=True, tag_field="type", tag="pong"):
    t: float
    server_time: float


class Typing(msgspec.Struct, kw_only=True, tag_field="type", tag="typing"):
    group_id: int
    user_id: int
    user_name: str
    active: bool = True  # false: stopped typing; hide the indicator now rather than after ~5 s


class Presence(msgspec.Struct, kw_only=True, tag_field="type", tag="presence"):
    group_id: int
    user_id: int
    status: Literal["online", "offline"]


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


class Subscribed(msgspec.Struct, kw_only=True, tag_field="type", tag="subscribed"):
    group_id: int
    latest_seq: int
    online: list[int]


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


class ServerTime(msgspec.Struct, kw_only=True):
    server_time: float  # ms since the epoch


def server_ms(now: dt.datetime | None = None) -> float:
    return (now or dt.datetime.now(dt.UTC)).timestamp() * 1000
