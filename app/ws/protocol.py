"""The WebSocket protocol: client frames (one msgspec decoder over a tagged union) and the server
frames that are not messages (app.domain.messages.schemas) nor built by the domain (app.domain.frames).
docs/protocol.md is the prose version; tests/unit/test_protocol_shapes.py pins every shape."""

from __future__ import annotations

from typing import Annotated, Literal, Union

import msgspec

from app.domain.frames import PlaybackState
from app.domain.groups.schemas import GroupDeleted, GroupUpdated, RoleChanged
from app.domain.ids import IdValue, SeqValue
from app.domain.media.schemas import VideoAdded, VideoDeleted, VideoProcessing, VideoUpdated
from app.domain.messages.schemas import (
    AttachmentIds,
    ChatMessage,
    ClientMsgId,
    MemberAdded,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessageText,
    ReactionChanged,
    Seen,
    Seq,
    VideoControl,
    require_content,
)
from app.domain.watching import Watching

FRAME_MAX_BYTES = 64 * 1024
GroupId = IdValue
VideoAction = Literal["play", "pause", "seek", "rate"]


# -- client -> server -------------------------------------------------------------------------------


class SendFrame(msgspec.Struct, tag_field="type", tag="message", forbid_unknown_fields=False):
    """Send a message (1 to 10,000 code points, or attachments); `client_msg_id` makes retries idempotent.

    Answered by an `ack` (or an `error` with the same `client_msg_id`); the seed's `{"text": ...}`
    without a `type` is accepted as this frame."""

    text: MessageText | None = None  # required unless attachment_ids has some
    group_id: GroupId | None = None  # optional on /ws/group/{id}
    client_msg_id: ClientMsgId | None = None
    reply_to: Seq | None = None
    attachment_ids: AttachmentIds = []

    def __post_init__(self) -> None:
        require_content(self.text, self.attachment_ids)


class TypingFrame(msgspec.Struct, tag_field="type", tag="typing"):
    """Typing indicator: every 2 s while the box has text; `active: false` when it is cleared."""

    group_id: GroupId | None = None
    active: bool = True  # false: stopped typing (the box was cleared, the chat or tab closed)


class SeenFrame(msgspec.Struct, tag_field="type", tag="seen"):
    """Read receipt: marks the group read up to `seq`."""

    seq: SeqValue
    group_id: GroupId | None = None


class PlaybackControl(msgspec.Struct, kw_only=True):
    """A playback control: over the socket as `video_control`, over HTTP as `POST .../playback`."""

    video_action: VideoAction
    video_time: Annotated[float, msgspec.Meta(ge=0, le=10**7)] = 0.0
    video_name: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    rate: Annotated[float, msgspec.Meta(gt=0, le=4)] = 1.0


class VideoControlFrame(PlaybackControl, kw_only=True, tag_field="type", tag="video_control"):
    """Playback control for the group: answered to every member by `video_control` and `playback_state`."""

    group_id: GroupId | None = None


class PingFrame(msgspec.Struct, tag_field="type", tag="ping"):
    """Clock sync and keep-alive, answered by `pong`."""

    t: float = 0.0  # the client's clock (ms), echoed back for offset and delay estimation


class ResumeFrame(msgspec.Struct, tag_field="type", tag="resume"):
    """The last seq seen per group (null: never connected, send the latest messages)."""

    groups: dict[int, SeqValue | None]


class SubscribeFrame(ResumeFrame, tag="subscribe"):
    """A synonym of `resume`."""


ClientFrame = (
    SendFrame | TypingFrame | SeenFrame | VideoControlFrame | PingFrame | ResumeFrame | SubscribeFrame
)


# -- server -> client (besides the message frames) -----------------------------------------------


class Ready(msgspec.Struct, kw_only=True, tag_field="type", tag="ready"):
    """The socket is open: the user and their groups (send `resume` on `/ws` to follow them)."""

    user_id: int
    groups: list[int]
    server_time: float  # ms since the epoch


class Ack(msgspec.Struct, kw_only=True, tag_field="type", tag="ack"):
    """A sent message was stored: its `id` and `seq` (to the sender only)."""

    client_msg_id: str | None
    id: str
    seq: int
    group_id: int


class ErrorFrame(msgspec.Struct, kw_only=True, tag_field="type", tag="error", omit_defaults=True):
    """A client frame was refused and nothing was stored (`code`: see docs/protocol.md)."""

    code: str
    detail: str
    client_msg_id: str | None = None


class Reset(msgspec.Struct, kw_only=True, tag_field="type", tag="reset"):
    """Too much was missed to replay: reload history over HTTP, then carry on from `latest_seq`."""

    group_id: int
    latest_seq: int


class Pong(msgspec.Struct, kw_only=True, tag_field="type", tag="pong"):
    """The answer to `ping`: its `t`, and the server's clock in ms."""

    t: float
    server_time: float


class Typing(msgspec.Struct, kw_only=True, tag_field="type", tag="typing"):
    """A member is typing (show it for ~5 s unless renewed) or stopped."""

    group_id: int
    user_id: int
    user_name: str
    active: bool = True  # false: stopped typing; hide the indicator now rather than after ~5 s


class Presence(msgspec.Struct, kw_only=True, tag_field="type", tag="presence"):
    """A member's first socket opened or last socket closed, across all workers."""

    group_id: int
    user_id: int
    status: Literal["online", "offline"]


class Subscribed(msgspec.Struct, kw_only=True, tag_field="type", tag="subscribed"):
    """A group is followed: its latest `seq` and who is online; missed frames follow."""

    group_id: int
    latest_seq: int
    online: list[int]


class StreamClosed(msgspec.Struct, kw_only=True, tag_field="type", tag="close"):
    """Event streams only (`event: close`): why the server ends the stream, as the socket's close code."""

    code: int
    reason: str


class ServerTime(msgspec.Struct, kw_only=True):
    server_time: float  # ms since the epoch


# -- every server frame -----------------------------------------------------------------------------

# What a socket (and the event stream) may deliver, tagged by `type`: the AsyncAPI document lists
# these, and the tests decode every frame they receive through `ServerFrame`, so one that drifts from
# its declared shape fails.
SERVER_FRAMES: tuple[type[msgspec.Struct], ...] = (
    Ready,
    Subscribed,
    Reset,
    ChatMessage,
    MemberAdded,
    MemberLeft,
    VideoControl,
    Ack,
    ErrorFrame,
    Pong,
    MessageEdited,
    MessageDeleted,
    ReactionChanged,
    Seen,
    Typing,
    Presence,
    PlaybackState,
    Watching,
    GroupUpdated,
    GroupDeleted,
    RoleChanged,
    VideoAdded,
    VideoUpdated,
    VideoDeleted,
    VideoProcessing,
)
ServerFrame = Union[SERVER_FRAMES]  # type: ignore[valid-type]  # noqa: UP007 -- a tuple of classes
