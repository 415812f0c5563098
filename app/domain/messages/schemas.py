"""Message frames (the same shapes in history and over WebSockets) and request bodies.

Seed-000 shapes are kept: `{"type": "message", "text", "user", "group_id", "created_at", ...}`,
`{"type": "add" | "leave", "text", "user": "system", "group_id", "user_email"}` and `video_control`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.domain.ids import IdValue, SeqValue
from app.domain.patterns import NO_BLANKS, VISIBLE

TEXT_MAX = 10_000  # code points
PAGE_MAX = 100
ATTACHMENTS_MAX = 10  # per message

MessageText = Annotated[str, msgspec.Meta(min_length=1, max_length=TEXT_MAX, pattern=VISIBLE)]
ClientMsgId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Seq = IdValue
Emoji = Annotated[str, msgspec.Meta(min_length=1, max_length=16, pattern=NO_BLANKS)]


class ReactionOut(msgspec.Struct):
    emoji: str
    count: int
    me: bool


AttachmentKind = Literal["image", "pdf", "text", "zip"]


class AttachmentOut(msgspec.Struct, kw_only=True):
    """An attachment as a message shows it: signed, short-lived URLs (ATTACHMENT_URL_TTL) that need no
    Authorization header, so `<img src>` and download links work; `thumbnail_url` for images only."""

    id: int
    name: str
    kind: AttachmentKind
    content_type: str
    size: int
    width: int | None
    height: int | None
    url: str
    thumbnail_url: str | None
    url_expires_at: dt.datetime


class ChatMessage(msgspec.Struct, kw_only=True, tag_field="type", tag="message"):
    id: str
    seq: int
    group_id: int
    text: str
    user: str
    user_id: int | None
    user_name: str | None
    created_at: dt.datetime
    client_msg_id: str | None = None
    reply_to: int | None = None
    video_id: int | None = None
    edited_at: dt.datetime | None = None
    deleted: bool = False
    reactions: list[ReactionOut] = []
    attachments: list[AttachmentOut] = []
    mentions: list[int] = []  # the members the text mentions (ids), resolved when sent or edited


class _Membership(msgspec.Struct, kw_only=True):
    id: str
    seq: int
    group_id: int
    text: str
    user_email: str | None
    user_id: int | None
    created_at: dt.datetime
    user: str = "system"


class MemberAdded(_Membership, tag_field="type", tag="add"):
    pass


class MemberLeft(_Membership, tag_field="type", tag="leave"):
    pass


class VideoControl(msgspec.Struct, kw_only=True, tag_field="type", tag="video_control"):
    id: str
    seq: int
    group_id: int
    video_action: str
    video_name: str | None
    video_time: float
    user: str
    user_id: int | None
    created_at: dt.datetime


MessageFrame = ChatMessage | MemberAdded | MemberLeft | VideoControl


class MessageEdited(msgspec.Struct, kw_only=True, tag_field="type", tag="message_edited"):
    id: str
    seq: int
    group_id: int
    text: str
    edited_at: dt.datetime
    mentions: list[int] = []  # the mentions of the new text


class MessageDeleted(msgspec.Struct, kw_only=True, tag_field="type", tag="message_deleted"):
    id: str
    seq: int
    group_id: int
    deleted_by: int


class ReactionChanged(msgspec.Struct, kw_only=True, tag_field="type", tag="reaction"):
    group_id: int
    seq: int
    emoji: str
    user_id: int
    action: Literal["add", "remove"]
    count: int


class Seen(msgspec.Struct, kw_only=True, tag_field="type", tag="seen"):
    group_id: int
    user_id: int
    seq: int


# -- request and response bodies ------------------------------------------------------------------


AttachmentIds = Annotated[list[IdValue], msgspec.Meta(max_length=ATTACHMENTS_MAX)]
NO_CONTENT = "A message needs text, attachments or both"


def require_content(text: str | None, attachment_ids: list[int]) -> None:
    """Refuses (at decoding: a 400 or an error frame) a message with neither text nor attachments."""
    if text is None and not attachment_ids:
        raise ValueError(NO_CONTENT)


class SendMessage(msgspec.Struct, kw_only=True):
    """`text` may be left out when the message carries attachments (uploaded to the same group)."""

    text: MessageText | None = None
    client_msg_id: ClientMsgId | None = None
    reply_to: Seq | None = None
    video_id: IdValue | None = None
    attachment_ids: AttachmentIds = []

    def __post_init__(self) -> None:
        require_content(self.text, self.attachment_ids)


class EditMessage(msgspec.Struct):
    text: MessageText


class MarkRead(msgspec.Struct):
    seq: SeqValue


class ReadState(msgspec.Struct):
    group_id: int
    last_read_seq: int
    unread_count: int


class Reader(msgspec.Struct):
    user_id: int
    name: str
    display_name: str | None
    last_read_seq: int


class MessagePage(msgspec.Struct):
    items: list[MessageFrame]
    has_more: bool


class SearchPage(msgspec.Struct):
    items: list[ChatMessage]
    limit: int
    offset: int
    next_offset: int | None
