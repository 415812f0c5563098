"""Video and upload bodies, and the real-time events of the video library."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.domain.ids import IdValue

NameText = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]  # sanitized, then cut to fit
DbId = IdValue
UploadState = Literal["open", "completing", "done"]
UploadPurpose = Literal["video", "attachment"]


class VideoInfo(msgspec.Struct, kw_only=True):
    """A video as every member of its group sees it (what the real-time events carry)."""

    id: int
    group_id: int
    name: str
    content_type: str
    size: int
    etag: str
    uploader_id: int | None
    created_at: dt.datetime


class VideoOut(VideoInfo, kw_only=True):
    """A video for one caller, with a signed URL that plays it without an Authorization header."""

    stream_url: str
    stream_url_expires_at: dt.datetime


class VideoPatch(msgspec.Struct):
    name: NameText


class UploadCreate(msgspec.Struct, kw_only=True):
    name: NameText
    size: DbId
    group_id: DbId
    chunk_size: DbId | None = None  # a wish; the server's answer is in the session
    purpose: UploadPurpose = "video"  # a video for the library, or a file to attach to messages


class UploadOut(msgspec.Struct, kw_only=True):
    """A resumable upload. `received` lists the chunk indexes stored so far: send the others."""

    id: str
    group_id: int
    name: str
    size: int
    chunk_size: int
    chunk_count: int
    received: list[int]
    received_bytes: int
    state: UploadState
    content_type: str | None
    expires_at: dt.datetime
    video_id: int | None
    created_at: dt.datetime
    purpose: UploadPurpose = "video"
    attachment_id: int | None = None


class ChunkAck(msgspec.Struct, kw_only=True):
    upload_id: str
    index: int
    size: int
    received_count: int
    chunk_count: int


class VideoAdded(msgspec.Struct, kw_only=True, tag_field="type", tag="video_added"):
    group_id: int
    video: VideoInfo


class VideoUpdated(msgspec.Struct, kw_only=True, tag_field="type", tag="video_updated"):
    group_id: int
    video: VideoInfo


class VideoDeleted(msgspec.Struct, kw_only=True, tag_field="type", tag="video_deleted"):
    group_id: int
    video_id: int
