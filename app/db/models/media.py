"""The video library: videos (metadata; the bytes live in the blob store) and resumable uploads."""

from __future__ import annotations

import datetime as dt
import uuid

from advanced_alchemy.base import DefaultBase, IdentityAuditBase, UUIDv7AuditBase
from advanced_alchemy.types import GUID, BigIntIdentity, DateTimeUTC
from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

VIDEO_NAME_MAX = 255
BLOB_KEY_MAX = 512
CONTENT_TYPE_MAX = 100
ETAG_MAX = 200

UPLOAD_OPEN = "open"
UPLOAD_COMPLETING = "completing"  # claimed by one `complete` call; others get a 409
UPLOAD_DONE = "done"  # kept until it expires, so a retried `complete` gets the same video


class Video(IdentityAuditBase):
    __tablename__ = "videos"
    # Names are unique within a group, so the seed's `/api/stream/{video_name}` and the `video_name`
    # of playback controls name one video there; a clashing upload gets "name (2).mp4".
    __table_args__ = (UniqueConstraint("group_id", "name", name="uq_videos_group_name"),)

    group_id: Mapped[int] = mapped_column(BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"))
    uploader_id: Mapped[int | None] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    name: Mapped[str] = mapped_column(String(VIDEO_NAME_MAX))  # sanitized original file name
    blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_MAX), unique=True)
    content_type: Mapped[str] = mapped_column(String(CONTENT_TYPE_MAX))  # from the magic bytes
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(ETAG_MAX))


class UploadSession(UUIDv7AuditBase):
    """A resumable upload: chunks are staged as blob blocks under `blob_key`, then committed."""

    __tablename__ = "upload_sessions"

    group_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(BigIntIdentity, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(VIDEO_NAME_MAX))
    size: Mapped[int] = mapped_column(BigInteger)
    chunk_size: Mapped[int] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer)
    blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_MAX), unique=True)
    content_type: Mapped[str | None] = mapped_column(String(CONTENT_TYPE_MAX), default=None)  # chunk 0's
    state: Mapped[str] = mapped_column(String(16), default=UPLOAD_OPEN)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    video_id: Mapped[int | None] = mapped_column(BigInteger, default=None)


class UploadChunk(DefaultBase):
    """One received chunk. Rows, not a bitmap on the session, so parallel PUTs never contend."""

    __tablename__ = "upload_chunks"

    session_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("upload_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)


__all__ = ["UploadChunk", "UploadSession", "Video"]
