"""The video library: videos (metadata; the bytes live in the blob store) and resumable uploads."""

from __future__ import annotations

import datetime as dt
import uuid

from advanced_alchemy.base import DefaultBase, IdentityAuditBase, UUIDv7AuditBase
from advanced_alchemy.types import GUID, BigIntIdentity, DateTimeUTC
from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

VIDEO_NAME_MAX = 255
BLOB_KEY_MAX = 512
CONTENT_TYPE_MAX = 100
ETAG_MAX = 200

UPLOAD_OPEN = "open"
UPLOAD_COMPLETING = "completing"  # claimed by one `complete` call; others get a 409
UPLOAD_DONE = "done"  # kept until it expires, so a retried `complete` gets the same video

PURPOSE_VIDEO = "video"  # an upload session adds a video to the group's library...
PURPOSE_ATTACHMENT = "attachment"  # ...or a file to attach to messages
# Transcode jobs and renditions share these states.
JOB_QUEUED = "queued"  # waiting for a runner (or for `run_after`, when retrying)
JOB_RUNNING = "running"  # leased by a runner until `locked_until`; an expired lease is taken over
JOB_DONE = "done"
JOB_FAILED = "failed"  # out of attempts, or a file ffmpeg cannot read
JOB_CANCELLED = "cancelled"  # the video was deleted
CODEC_MAX = 32
SUBTITLE_LABEL_MAX = 100
SUBTITLE_LANGUAGE_MAX = 35
ERROR_MAX = 500


class Video(IdentityAuditBase):
    __tablename__ = "videos"
    # Names are unique within a group, so the seed's `/api/stream/{video_name}` and the `video_name`
    # of playback controls name one video there; a clashing upload gets "name (2).mp4".
    __table_args__ = (
        UniqueConstraint("group_id", "name", name="uq_videos_group_name"),
        {"sqlite_autoincrement": True},  # never reuse a deleted video's id (SQLite)
    )

    group_id: Mapped[int] = mapped_column(BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"))
    uploader_id: Mapped[int | None] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    name: Mapped[str] = mapped_column(String(VIDEO_NAME_MAX))  # sanitized original file name
    blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_MAX), unique=True)
    content_type: Mapped[str] = mapped_column(String(CONTENT_TYPE_MAX))  # from the magic bytes
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(ETAG_MAX))
    # What ffprobe found (null until the video's transcode job has probed it).
    duration: Mapped[float | None] = mapped_column(Float, default=None)  # seconds
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    bitrate: Mapped[int | None] = mapped_column(BigInteger, default=None)  # bits per second, overall
    video_codec: Mapped[str | None] = mapped_column(String(CODEC_MAX), default=None)
    audio_codec: Mapped[str | None] = mapped_column(String(CODEC_MAX), default=None)
    poster_key: Mapped[str | None] = mapped_column(String(BLOB_KEY_MAX), default=None)


class VideoJob(IdentityAuditBase):
    """A video's transcode job: the queue row runners claim (FOR UPDATE SKIP LOCKED on PostgreSQL).

    No foreign key to the video on purpose: deleting a video marks its job cancelled and the row
    stays, so a runner still working on it sees why it must stop (and `source_key` names the blobs
    to clean up). A video gone with its group has no row to mark; runners treat that as cancelled.
    """

    __tablename__ = "video_jobs"
    __table_args__ = (
        Index("ix_video_jobs_state_run_after", "state", "run_after"),
        {"sqlite_autoincrement": True},  # never reuse a deleted job's id (SQLite)
    )

    video_id: Mapped[int] = mapped_column(BigInteger, index=True)
    source_key: Mapped[str] = mapped_column(String(BLOB_KEY_MAX))
    state: Mapped[str] = mapped_column(String(16), default=JOB_QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # counted when claimed
    run_after: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    locked_by: Mapped[str | None] = mapped_column(String(200), default=None)  # host:pid:token
    error: Mapped[str | None] = mapped_column(String(ERROR_MAX), default=None)


class Rendition(DefaultBase):
    """A lower-quality copy of a video, made by its transcode job, stored beside the original."""

    __tablename__ = "video_renditions"

    video_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    quality: Mapped[str] = mapped_column(String(16), primary_key=True)  # "360p"
    blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_MAX))
    state: Mapped[str] = mapped_column(String(16), default=JOB_QUEUED)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    bitrate: Mapped[int | None] = mapped_column(BigInteger, default=None)  # bits per second


class Subtitle(IdentityAuditBase):
    """A subtitle track of a video: WebVTT (SRT is converted on upload), bytes in the blob store.

    `group_id` and `uploader_id` are the video's group and whoever added the track, so storage quotas
    count its bytes like a video's. Labels are unique per video (the player's menu tells them apart).
    """

    __tablename__ = "video_subtitles"
    __table_args__ = (
        UniqueConstraint("video_id", "label", name="uq_video_subtitles_video_label"),
        {"sqlite_autoincrement": True},  # never reuse a deleted track's id (SQLite)
    )

    video_id: Mapped[int] = mapped_column(BigIntIdentity, ForeignKey("videos.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    uploader_id: Mapped[int | None] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    label: Mapped[str] = mapped_column(String(SUBTITLE_LABEL_MAX))
    language: Mapped[str] = mapped_column(String(SUBTITLE_LANGUAGE_MAX))  # BCP 47
    kind: Mapped[str] = mapped_column(String(16))  # subtitles, captions
    source_format: Mapped[str] = mapped_column(String(16))  # webvtt, srt: what was uploaded
    cue_count: Mapped[int] = mapped_column(Integer)
    blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_MAX), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)  # of the stored WebVTT


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
    purpose: Mapped[str] = mapped_column(String(16), default=PURPOSE_VIDEO, server_default=PURPOSE_VIDEO)
    attachment_id: Mapped[int | None] = mapped_column(BigInteger, default=None)


class UploadChunk(DefaultBase):
    """One received chunk. Rows, not a bitmap on the session, so parallel PUTs never contend."""

    __tablename__ = "upload_chunks"

    session_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("upload_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)


class Attachment(IdentityAuditBase):
    """A file for messages (image, PDF, text, ZIP): uploaded through an upload session, bytes in the
    blob store under a generated key. Sent in messages through `message_attachments`."""

    __tablename__ = "attachments"
    # SQLite: never hand a deleted row's id to a new row (signed links and caches name rows by id).
    __table_args__ = ({"sqlite_autoincrement": True},)

    group_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    uploader_id: Mapped[int | None] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    name: Mapped[str] = mapped_column(String(VIDEO_NAME_MAX))  # sanitized original file name
    kind: Mapped[str] = mapped_column(String(16))  # image, pdf, text, zip
    content_type: Mapped[str] = mapped_column(String(CONTENT_TYPE_MAX))  # from the magic bytes
    size: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_MAX), unique=True)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    thumb_blob_key: Mapped[str | None] = mapped_column(String(BLOB_KEY_MAX), default=None)


class MessageAttachment(DefaultBase):
    """Which message (group, seq: the same in every message store) carries which attachment.

    The reference count behind "deleting a message removes the attachments no other message uses".
    """

    __tablename__ = "message_attachments"

    attachment_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)


Index("ix_message_attachments_message", MessageAttachment.group_id, MessageAttachment.seq)

__all__ = [
    "Attachment",
    "MessageAttachment",
    "Rendition",
    "Subtitle",
    "UploadChunk",
    "UploadSession",
    "Video",
    "VideoJob",
]
