"""Attachment bodies beyond the message frame's `AttachmentOut`."""

from __future__ import annotations

import datetime as dt

from app.domain.messages.schemas import AttachmentOut


class UploadedAttachment(AttachmentOut, kw_only=True):
    """What completing an attachment upload answers: send its `id` in a message's `attachment_ids`."""

    group_id: int
    uploader_id: int | None
    created_at: dt.datetime
