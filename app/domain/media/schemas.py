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
ProcessingState = Literal["queued", "running", "done", "failed", "cancelled"]
QualityName = Literal["original", "144p", "240p", "360p", "480p", "720p", "1080p"]
SubtitleKind = Literal["subtitles", "captions"]
SubtitleSource = Literal["webvtt", "srt"]


class SubtitleInfo(msgspec.Struct, kw_only=True):
    """A subtitle track of a video, as every member sees it (what the real-time events carry).

    `language` is a BCP 47 tag (`en`, `pt-BR`); `kind` says whether the text is a translation
    (`subtitles`) or a transcription with sounds for the deaf and hard of hearing (`captions`);
    `source_format` is what was uploaded (it is served as WebVTT either way)."""

    id: int
    video_id: int
    label: str
    language: str
    kind: SubtitleKind
    source_format: SubtitleSource
    cue_count: int
    size: int
    uploader_id: int | None
    created_at: dt.datetime


class SubtitleOut(SubtitleInfo, kw_only=True):
    """A subtitle track for one caller: `url` serves the WebVTT without an Authorization header
    (signed like `stream_url`, for a `<track src>`)."""

    url: str


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
    subtitles: list[SubtitleInfo] = msgspec.field(default_factory=list)


class QualityState(msgspec.Struct, kw_only=True):
    """One quality of a video: the original, or a rendition the transcode job makes (`progress` in %)."""

    quality: str
    height: int | None
    width: int | None
    size: int | None
    bitrate: int | None  # bits per second
    state: ProcessingState
    progress: int


class QualityOut(QualityState, kw_only=True):
    url: str | None  # signed like stream_url; null until the rendition is done


class VideoOut(VideoInfo, kw_only=True):
    """A video for one caller, with a signed URL that plays it without an Authorization header.

    `qualities` lists the original first, then each rendition with its state and signed URL;
    `processing` is the transcode job's state (null for a video uploaded before there were jobs).
    """

    stream_url: str
    stream_url_expires_at: dt.datetime
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    bitrate: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    processing: ProcessingState | None = None
    processing_error: str | None = None
    qualities: list[QualityOut] = msgspec.field(default_factory=list)
    poster_url: str | None = None
    subtitles: list[SubtitleOut] = msgspec.field(default_factory=list)  # type: ignore[assignment]


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


class VideoProcessing(msgspec.Struct, kw_only=True, tag_field="type", tag="video_processing"):
    """The transcode job of a video moved on: probed, a rendition's progress, done, failed, cancelled.

    Ephemeral (not sequenced): a client that missed some refetches the video. No URLs here, they are
    signed per viewer: fetch the video when a quality turns `done`.
    """

    group_id: int
    video_id: int
    state: ProcessingState
    error: str | None
    duration: float | None
    width: int | None
    height: int | None
    poster: bool
    qualities: list[QualityState]
