"""Subtitle tracks of a video: upload (multipart or a raw body), list, serve, delete.

Who may do what follows the video: every member of its group lists and reads the tracks (a 404 for
anyone else, like the video itself); its uploader or a group admin adds and deletes them (403 for
other members). Uploads are small (SUBTITLE_MAX_BYTES, 1 MiB by default): the body is read into
memory, judged by content and rewritten as clean WebVTT by `app.domain.media.subtitles.formats` in a worker
thread, then stored under a generated key and recorded with the storage quota checked in the same
transaction. A track is served like the video (a bearer token, or its signed `url`) as
`text/vtt; charset=utf-8`. Each change is pushed to the group as `video_updated` with the tracks.
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any

import anyio
from litestar import Request, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.blobstore import in_one_chunk
from app.db.models.accounts import User
from app.db.models.groups import Membership
from app.db.models.media import SUBTITLE_LABEL_MAX, Subtitle, Video
from app.domain.accounts.deps import bearer_token
from app.domain.accounts.services import AccountService
from app.domain.media import quota
from app.domain.media.catalog.services import MediaService
from app.domain.media.catalog.tracks import KINDS, load_subtitles, signed_as, subtitle_out
from app.domain.media.schemas import SubtitleOut
from app.domain.media.subtitles import formats as subtitles
from app.domain.media.uploads.form import remove_blob
from app.domain.media.uploads.multipart import FORM_OVERHEAD, MultipartReader
from app.domain.messages.services import release
from app.domain.runtime import Runtime
from app.domain.shared.signing import INVALID_LINK, Link
from app.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidSubtitles,
    NotFound,
    PayloadTooLarge,
    UnsupportedSubtitles,
)
from app.streaming.response import stored_response

log = logging.getLogger("huddle.media")

FILE_FIELD = "file"
SUBTITLES_PER_VIDEO = 20
SUBTITLE_NOT_FOUND = "Subtitle track not found"
LANGUAGE_NEEDED = (
    "Say which language the subtitles are in: `language`, a BCP 47 tag such as en, pt-BR or zh-Hant"
)


@dataclass(frozen=True)
class TrackMeta:
    """What the uploader says about a track: query parameters, or form fields before the file."""

    label: str | None = None
    language: str | None = None
    kind: str | None = None


def new_subtitle_key() -> str:
    return f"subtitles/{uuid.uuid4()}.vtt"


def clean_label(text: str | None) -> str:
    """A label for the player's menu: no control or format characters, blanks collapsed, cut to fit."""
    label = unicodedata.normalize("NFC", text or "")
    label = "".join(char for char in label if not unicodedata.category(char).startswith("C"))
    return " ".join(label.split())[:SUBTITLE_LABEL_MAX].strip()


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Subtitle files are limited to {limit} bytes (SUBTITLE_MAX_BYTES)")


async def _collect(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


def _convert(data: bytes) -> subtitles.Converted:
    try:
        return subtitles.to_webvtt(data)
    except subtitles.NotSubtitles as error:
        raise UnsupportedSubtitles(str(error)) from None
    except subtitles.SubtitleError as error:
        raise InvalidSubtitles(str(error)) from None


def _checked(meta: TrackMeta) -> tuple[str, str]:
    """The language tag and the kind, or a 400 saying what is wrong."""
    if not meta.language:
        raise BadRequest(LANGUAGE_NEEDED)
    language = subtitles.language_tag(meta.language)
    if language is None:
        raise BadRequest(f"{meta.language[:40]!r} is not a BCP 47 language tag (like en, pt-BR, zh-Hant)")
    kind = KINDS.get(meta.kind or "subtitles")
    if kind is None:
        raise BadRequest("kind must be `subtitles` or `captions`")
    return language, kind


class SubtitleService:
    def __init__(self, db: AsyncSession, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime
        self.store = runtime.blobs
        self.library = MediaService(db, runtime)
        self.signer = self.library.signer

    # -- reading -----------------------------------------------------------------------------------

    async def list(self, user_id: int, video_id: int) -> list[SubtitleOut]:
        video, _ = await self.library.visible(user_id, video_id)
        rows = (await load_subtitles(self.db, [video.id]))[video.id]
        return [subtitle_out(self.signer, row, user_id) for row in rows]

    async def serve(
        self,
        request: Request[Any, Any, Any],
        accounts: AccountService,
        video_id: int,
        subtitle_id: int,
        link: Link,
    ) -> Response[bytes]:
        """GET/HEAD of a track: its signed URL (judged by the signature alone, bearer or not), else
        a bearer token; the user must still be able to watch the video either way."""
        if link.present:
            user_id = self.signer.claimed_user(link)
            row = await self.db.scalar(
                select(Subtitle)
                .join(Video, Video.id == Subtitle.video_id)
                .join(Membership, Membership.group_id == Video.group_id)
                .join(User, User.id == Membership.user_id)
                .where(
                    Subtitle.id == subtitle_id,
                    Subtitle.video_id == video_id,
                    Membership.user_id == user_id,
                    User.is_active,
                )
            )
            if row is None:
                row = await self._track(video_id, subtitle_id)
                self.signer.verify(video_id, link, key=row.blob_key, quality=signed_as(row.id))
                raise Forbidden(INVALID_LINK)  # the user this link was made for may no longer watch
            self.signer.verify(video_id, link, key=row.blob_key, quality=signed_as(row.id))
        else:
            principal = await accounts.authenticate(_bearer(request))
            await self.library.visible(principal.user_id, video_id)
            row = await self._track(video_id, subtitle_id)
        name = await self.db.scalar(select(Video.name).where(Video.id == video_id)) or "video"
        key, filename = row.blob_key, f"{name.rsplit('.', 1)[0]}.{row.language}.vtt"
        await release(self.db)  # no pooled connection is held while the bytes flow
        return await stored_response(
            request, self.store, key, missing="The subtitle file is missing from storage", filename=filename
        )

    async def _track(self, video_id: int, subtitle_id: int) -> Subtitle:
        row = await self.db.get(Subtitle, subtitle_id)
        if row is None or row.video_id != video_id:
            raise NotFound(SUBTITLE_NOT_FOUND)
        return row

    # -- writing -----------------------------------------------------------------------------------

    async def add(
        self, request: Request[Any, Any, Any], user_id: int, video_id: int, meta: TrackMeta
    ) -> SubtitleOut:
        limit = self.runtime.settings.subtitle_max_bytes
        if (request.content_length or 0) > limit + FORM_OVERHEAD:
            raise too_large(limit)  # announced too big: refused before a byte is read
        video = await self.library.manageable(user_id, video_id)
        await release(self.db)
        data, meta, filename = await self._read(request, meta, limit)
        language, kind = _checked(meta)
        converted = await anyio.to_thread.run_sync(_convert, data)
        label = clean_label(meta.label) or clean_label(_stem(filename)) or language
        body = converted.text.encode("utf-8")
        key = new_subtitle_key()
        try:
            info = await self.store.put(key, in_one_chunk(body), subtitles.VTT_CONTENT_TYPE)
            row = await self._insert(
                video,
                Subtitle(
                    video_id=video.id,
                    group_id=video.group_id,
                    uploader_id=user_id,
                    label=label,
                    language=language,
                    kind=kind,
                    source_format=converted.source,
                    cue_count=converted.cues,
                    blob_key=key,
                    size=info.size,
                ),
            )
        except BaseException:
            await remove_blob(self.store, key)
            raise
        return subtitle_out(self.signer, row, user_id)

    async def _read(
        self, request: Request[Any, Any, Any], meta: TrackMeta, limit: int
    ) -> tuple[bytes, TrackMeta, str | None]:
        """The file's bytes (at most `limit`), what the form said about it, and its file name."""
        content_type = request.headers.get("content-type") or ""
        if not content_type.lower().startswith("multipart/form-data"):
            _checked(meta)  # a wrong language is refused before the file is read
            async with aclosing(request.stream()) as stream:
                return await _collect(stream, limit), meta, None
        reader = MultipartReader(request.stream(), content_type, limit + FORM_OVERHEAD)
        fields: dict[str, str] = {}
        while (part := await reader.next_part()) is not None:
            if part.name == FILE_FIELD:
                merged = replace(meta, **fields)
                _checked(merged)  # a wrong language is refused before the file is read
                data = await _collect(reader.data(), limit)
                await reader.finish()
                return data, merged, part.filename
            if part.name in ("label", "language", "kind"):
                fields[part.name] = (await reader.text()).strip()
        raise BadRequest("The form has no `file` field")

    async def _insert(self, video: Video, row: Subtitle) -> Subtitle:
        """Record the track (its label numbered when the video has one like it), with the quota
        checked atomically; 404 when the video went meanwhile, 409 past SUBTITLES_PER_VIDEO."""
        wanted, uploader = row.label, row.uploader_id or 0
        for _ in range(3):  # a concurrent upload may take the same label first
            exists = await self.db.scalar(
                select(Video.id).where(Video.id == video.id, Video.blob_key == video.blob_key)
            )
            if exists is None:
                await self.db.rollback()
                raise NotFound("Video not found")
            labels = set(await self.db.scalars(select(Subtitle.label).where(Subtitle.video_id == video.id)))
            if len(labels) >= SUBTITLES_PER_VIDEO:
                await self.db.rollback()
                raise Conflict(f"A video has at most {SUBTITLES_PER_VIDEO} subtitle tracks; delete one first")
            row.label = _free_label(wanted, labels)
            self.db.add(row)
            try:
                await self.db.flush()
                await quota.enforce(
                    self.db, self.runtime.settings, group_id=video.group_id, user_id=uploader, size=row.size
                )
                await self.library.queue_update(video)
                await self.library.uow.commit()
            except IntegrityError:
                await self.db.rollback()
                continue
            return row
        raise Conflict("Another upload took this label at the same moment; try again")

    async def delete(self, user_id: int, video_id: int, subtitle_id: int) -> None:
        video = await self.library.manageable(user_id, video_id)
        row = await self._track(video_id, subtitle_id)
        key = row.blob_key
        await self.db.delete(row)
        await self.library.queue_update(video)
        await self.library.uow.commit()
        try:
            await self.store.delete(key)
        except Exception:  # the track is gone either way; an orphaned blob is only wasted space
            log.exception("could not delete blob %s of deleted subtitle track %d", key, subtitle_id)


def _free_label(label: str, taken: set[str]) -> str:
    """`label`, or the first of "label (2)", "label (3)", ... the video does not have (cut to fit)."""
    candidate, number = label, 1
    while candidate in taken:
        number += 1
        suffix = f" ({number})"
        candidate = label[: SUBTITLE_LABEL_MAX - len(suffix)].rstrip() + suffix
    return candidate


def _stem(filename: str | None) -> str:
    """`Film.en.srt` -> `Film.en`: a default label from the uploaded file's name."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def _bearer(request: Request[Any, Any, Any]) -> str:
    return bearer_token(request.headers.get("authorization"))
