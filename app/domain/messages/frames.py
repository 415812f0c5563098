"""The one rendering of a stored message as a frame, for history and real-time alike."""

from __future__ import annotations

import datetime as dt
from typing import cast

from app.domain.messages.schemas import (
    AttachmentKind,
    AttachmentOut,
    ChatMessage,
    MemberAdded,
    MemberLeft,
    MessageFrame,
    ReactionOut,
    VideoControl,
)
from app.domain.messages.store import AttachmentRef, StoredMessage
from app.domain.shared.signing import AttachmentSigner


def to_frame(
    message: StoredMessage, viewer_id: int | None = None, *, signer: AttachmentSigner
) -> MessageFrame:
    """The one rendering of a stored message, for history and real-time alike. `viewer_id` only
    sets the `me` flag of reactions; new messages have none, so their frame is viewer-independent
    (attachment URLs are signed for the attachment, not for a user)."""
    if message.type in ("add", "leave"):
        kind = MemberAdded if message.type == "add" else MemberLeft
        return kind(
            id=message.id,
            seq=message.seq,
            group_id=message.group_id,
            text=message.text,
            user_email=message.user_email,
            user_id=message.author_id,
            created_at=message.created_at,
        )
    if message.type == "video_control":
        return VideoControl(
            id=message.id,
            seq=message.seq,
            group_id=message.group_id,
            video_action=message.video_action or "pause",
            video_name=message.video_name,
            video_time=message.video_time or 0.0,
            user=message.user,
            user_id=message.author_id,
            created_at=message.created_at,
        )
    return ChatMessage(
        id=message.id,
        seq=message.seq,
        group_id=message.group_id,
        text=message.text,
        user=message.user,
        user_id=message.author_id,
        user_name=message.user_name,
        created_at=message.created_at,
        client_msg_id=message.client_msg_id,
        reply_to=message.reply_to,
        video_id=message.video_id,
        edited_at=message.edited_at,
        deleted=message.deleted_at is not None,
        reactions=reaction_summary(message.reactions, viewer_id),
        attachments=[render_attachment(ref, signer) for ref in message.attachments],
        mentions=list(message.mentions),
    )


def reaction_summary(reactions: dict[str, list[int]], viewer_id: int | None) -> list[ReactionOut]:
    return [ReactionOut(emoji, len(users), viewer_id in users) for emoji, users in reactions.items() if users]


def render_attachment(ref: AttachmentRef, signer: AttachmentSigner) -> AttachmentOut:
    query, expires = signer.sign(ref.id, "file", key=ref.key)
    thumbnail = None
    if ref.thumbnail:
        thumb_query, _ = signer.sign(ref.id, "thumbnail", key=ref.key)
        thumbnail = f"/api/v1/attachments/{ref.id}/thumbnail?{thumb_query}"
    return AttachmentOut(
        id=ref.id,
        name=ref.name,
        kind=cast("AttachmentKind", ref.kind),
        content_type=ref.content_type,
        size=ref.size,
        width=ref.width,
        height=ref.height,
        url=f"/api/v1/attachments/{ref.id}?{query}",
        thumbnail_url=thumbnail,
        url_expires_at=dt.datetime.fromtimestamp(expires, dt.UTC),
    )
