"""The video catalog: listing, renaming, deleting, and authorizing streams (bearer or signed URL).

Every read is scoped by membership: a video of a group the caller is not in is a 404, exactly like a
video that does not exist. Writes commit before their event is published and before a blob is
deleted, so no event or missing file ever refers to something that could still roll back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.blobstore import BlobInfo
from app.db.models.groups import ROLE_ADMIN, Membership
from app.db.models.media import JOB_DONE, Rendition, Subtitle, Video
from app.domain.accounts.deps import bearer_token
from app.domain.accounts.services import AccountService
from app.domain.groups.access import require_member
from app.domain.ids import MAX_ID
from app.domain.media.catalog.names import cleaned_name, numbered
from app.domain.media.catalog.streams import VIDEO_FILE_MISSING, rendition_name, watchable
from app.domain.media.catalog.tracks import load_subtitles, subtitle_info, subtitle_out
from app.domain.media.schemas import (
    QualityOut,
    VideoAdded,
    VideoDeleted,
    VideoInfo,
    VideoOut,
    VideoUpdated,
)
from app.domain.media.transcode.jobs import cancel_video_jobs, new_job
from app.domain.media.transcode.renditions import (
    FRESH,
    Processing,
    load_processing,
    original_quality,
    remove_derived,
    rendition_quality,
)
from app.domain.messages.services import release
from app.domain.playback import follow_video
from app.domain.runtime import Runtime
from app.domain.shared.signing import INVALID_LINK, ORIGINAL, Link
from app.domain.uow import UnitOfWork
from app.errors import BadRequest, Conflict, Forbidden, NotFound
from app.streaming.response import stored_response

log = logging.getLogger("huddle.media")

VIDEO_NOT_FOUND = "Video not found"
NAME_BATCH = 100  # "clip (2).mp4" ... tried per query
NAME_BATCHES = 10
AMBIGUOUS_SHOWN = 20
POSTER = "poster"  # what a poster URL is signed for


def as_id(text: str | None) -> int | None:
    """`text` as a database id, or None (also for 20-digit numbers, without parsing them)."""
    if not text or len(text) > len(str(MAX_ID)) or not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


def video_info(video: Video, subtitles: Sequence[Subtitle] = ()) -> VideoInfo:
    return VideoInfo(
        id=video.id,
        group_id=video.group_id,
        name=video.name,
        content_type=video.content_type,
        size=video.size,
        etag=video.etag,
        uploader_id=video.uploader_id,
        created_at=video.created_at,
        subtitles=[subtitle_info(row) for row in subtitles],
    )


class MediaService:
    def __init__(self, db: AsyncSession, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime
        self.store = runtime.blobs
        self.events = runtime.events
        self.uow = UnitOfWork(db, runtime.events)
        self.streams = runtime.streams
        self.signer = runtime.streams.signer

    def render(
        self,
        video: Video,
        viewer_id: int,
        processing: Processing = FRESH,
        subtitles: Sequence[Subtitle] = (),
    ) -> VideoOut:
        """The video for one viewer; `processing` from `load_processing` (default: just uploaded),
        `subtitles` from `load_subtitles` (default: none yet)."""
        key = video.blob_key  # every link of the video is bound to the file it was made for
        query, expires = self.signer.sign(video.id, viewer_id, key=key)
        stream_url = f"/api/v1/videos/{video.id}/stream?{query}"
        qualities = [QualityOut(**msgspec.structs.asdict(original_quality(video)), url=stream_url)]
        for rendition in processing.renditions:
            url = None
            if rendition.state == JOB_DONE:
                signed, _ = self.signer.sign(video.id, viewer_id, key=key, quality=rendition.quality)
                url = f"/api/v1/videos/{video.id}/stream?quality={rendition.quality}&{signed}"
            qualities.append(QualityOut(**msgspec.structs.asdict(rendition_quality(rendition)), url=url))
        poster_url = None
        if video.poster_key is not None:
            signed, _ = self.signer.sign(video.id, viewer_id, key=key, quality=POSTER)
            poster_url = f"/api/v1/videos/{video.id}/poster?{signed}"
        fields = (field for field in VideoInfo.__struct_fields__ if field != "subtitles")
        return VideoOut(
            **{field: getattr(video, field) for field in fields},
            stream_url=stream_url,
            stream_url_expires_at=datetime.fromtimestamp(expires, UTC),
            duration=video.duration,
            width=video.width,
            height=video.height,
            bitrate=video.bitrate,
            video_codec=video.video_codec,
            audio_codec=video.audio_codec,
            processing=processing.state,
            processing_error=processing.error,
            qualities=qualities,
            poster_url=poster_url,
            subtitles=[subtitle_out(self.signer, row, viewer_id) for row in subtitles],
        )

    async def present(self, videos: list[Video], viewer_id: int) -> list[VideoOut]:
        """Render videos with their processing state and subtitles (three queries for the whole page)."""
        ids = [video.id for video in videos]
        processing = await load_processing(self.db, ids)
        subtitles = await load_subtitles(self.db, ids)
        return [self.render(video, viewer_id, processing[video.id], subtitles[video.id]) for video in videos]

    # -- reading -----------------------------------------------------------------------------------

    async def visible(self, user_id: int, video_id: int) -> tuple[Video, Membership]:
        """The video and the caller's membership of its group; 404 when they may not watch it."""
        row = (
            await self.db.execute(
                select(Video, Membership)
                .join(Membership, Membership.group_id == Video.group_id)
                .where(Video.id == video_id, Membership.user_id == user_id)
            )
        ).first()
        if row is None:
            raise NotFound(VIDEO_NOT_FOUND)
        return row.Video, row.Membership

    async def list_group(self, user_id: int, group_id: int, limit: int, offset: int) -> list[VideoOut]:
        await require_member(self.db, group_id, user_id)
        return await self._page(select(Video).where(Video.group_id == group_id), user_id, limit, offset)

    async def list_watchable(
        self, user_id: int, group_id: int | None, limit: int, offset: int
    ) -> list[VideoOut]:
        query = watchable(user_id)
        if group_id is not None:
            query = query.where(Video.group_id == group_id)
        return await self._page(query, user_id, limit, offset)

    async def _page(self, query: Select[Video], user_id: int, limit: int, offset: int) -> list[VideoOut]:
        videos = await self.db.scalars(
            query.order_by(Video.created_at.desc(), Video.id.desc()).limit(limit).offset(offset)
        )
        return await self.present(list(videos), user_id)

    async def get(self, user_id: int, video_id: int) -> VideoOut:
        video, _ = await self.visible(user_id, video_id)
        return (await self.present([video], user_id))[0]

    # -- writing -----------------------------------------------------------------------------------

    async def _free_name(self, group_id: int, name: str) -> str:
        """`name`, or the first of "name (2)", "name (3)", ... not yet used in the group."""
        for batch in range(NAME_BATCHES):
            first = 2 + batch * NAME_BATCH
            candidates = ([name] if batch == 0 else []) + [
                numbered(name, number) for number in range(first, first + NAME_BATCH)
            ]
            taken = set(
                await self.db.scalars(
                    select(Video.name).where(Video.group_id == group_id, Video.name.in_(candidates))
                )
            )
            free = next((candidate for candidate in candidates if candidate not in taken), None)
            if free is not None:
                return free
        raise Conflict("Too many videos share this name in the group; rename it")

    async def add(
        self,
        *,
        group_id: int,
        uploader_id: int,
        name: str,
        key: str,
        info: BlobInfo,
        on_insert: Callable[[Video], Awaitable[None]] | None = None,
    ) -> Video:
        """Record a stored blob as a video (a clashing name gets a number) with its transcode job
        queued, then announce it.

        `on_insert` runs in the same transaction, so what it writes commits with the video or not at all.
        """
        for _ in range(3):  # a concurrent upload may take the same free name first
            video = Video(
                group_id=group_id,
                uploader_id=uploader_id,
                name=await self._free_name(group_id, name),
                blob_key=key,
                content_type=info.content_type,
                size=info.size,
                etag=info.etag,
            )
            self.db.add(video)
            try:
                await self.db.flush()
                self.db.add(new_job(video))
                if on_insert is not None:
                    await on_insert(video)
                self.uow.to_group(group_id, VideoAdded(group_id=group_id, video=video_info(video)))
                await self.uow.commit()
            except IntegrityError:
                await self.db.rollback()
                continue
            return video
        raise Conflict("Another upload took this name at the same moment; try again")

    async def manageable(self, user_id: int, video_id: int) -> Video:
        """The video when the caller may change it (its uploader, or an admin of its group): 404 when
        they may not watch it, 403 when they only may watch it."""
        video, membership = await self.visible(user_id, video_id)
        if video.uploader_id != user_id and membership.role != ROLE_ADMIN:
            raise Forbidden("Only the uploader or a group admin can change this video")
        return video

    async def rename(self, user_id: int, video_id: int, name: str) -> VideoOut:
        video = await self.manageable(user_id, video_id)
        new_name = cleaned_name(name)
        if not new_name:  # an upload's file name may be junk ("video" then); a rename is chosen
            raise BadRequest("The name has nothing visible left once cleaned")
        old_name = video.name
        if new_name != old_name:
            clash = await self.db.scalar(
                select(Video.id).where(Video.group_id == video.group_id, Video.name == new_name)
            )
            if clash is not None:
                raise Conflict(f"This group already has a video named {new_name!r}")
            video.name = new_name
            try:
                await self.queue_update(video)
                await self.uow.commit()
            except IntegrityError:
                await self.db.rollback()
                raise Conflict(f"This group already has a video named {new_name!r}") from None
            await follow_video(self.runtime.playback, self.events, video.group_id, old_name, new_name)
        return (await self.present([video], user_id))[0]

    async def queue_update(self, video: Video) -> None:
        """Tell the group the video changed (`video_updated`, with its subtitle tracks) once the
        transaction commits (`uow.commit()`)."""
        subtitles = (await load_subtitles(self.db, [video.id]))[video.id]
        self.uow.to_group(
            video.group_id, VideoUpdated(group_id=video.group_id, video=video_info(video, subtitles))
        )

    async def delete(self, user_id: int, video_id: int) -> None:
        video = await self.manageable(user_id, video_id)
        group_id, key, name = video.group_id, video.blob_key, video.name
        # PostgreSQL: lock the row first, so a subtitle upload committing meanwhile (its foreign key
        # check shares that lock) is either seen below or refused, never cascaded away unseen.
        await self.db.execute(select(Video.id).where(Video.id == video_id).with_for_update())
        tracks = list(await self.db.scalars(select(Subtitle.blob_key).where(Subtitle.video_id == video_id)))
        await cancel_video_jobs(self.db, video_id)  # a runner on it stops at its next heartbeat
        await self.db.delete(video)  # its subtitle rows cascade
        self.uow.to_group(group_id, VideoDeleted(group_id=group_id, video_id=video_id))
        await self.uow.commit()
        for blob in [key, *tracks]:
            try:
                await self.store.delete(blob)
            except Exception:  # the video is gone either way; an orphaned blob is only wasted space
                log.exception("could not delete blob %s of deleted video %d", blob, video_id)
        # After the commit: a rendition a job uploads from now on is removed by the job itself.
        await remove_derived(self.store, [key])
        await follow_video(self.runtime.playback, self.events, group_id, name, None)

    # -- streaming ---------------------------------------------------------------------------------

    async def _viewer(self, request: Request[Any, Any, Any], accounts: AccountService) -> int:
        principal = await accounts.authenticate(bearer_token(request.headers.get("authorization")))
        return principal.user_id

    async def stream(
        self,
        request: Request[Any, Any, Any],
        accounts: AccountService,
        video_id: int,
        link: Link,
        quality: str = ORIGINAL,
    ) -> Response[bytes]:
        """GET/HEAD of a video (or of one of its renditions, or its poster) by id: a signed URL,
        else a bearer token; nothing is read before.

        A signed URL is judged by its signature alone, even when a bearer token comes along; it is
        signed for one quality of the file stored under the video's blob key, so it is checked once
        that key is looked up (no byte is read before).
        """
        if link.present:
            user_id = self.signer.claimed_user(link)
            if quality != POSTER:  # players ask range after range: the light path
                answer = await self.streams.respond(request, video_id, link, quality)
                if answer is not None:
                    return answer
            # Not watchable, or not ready: the full lookup says which (404, 403 or why not ready).
            video = await self.db.scalar(watchable(user_id).where(Video.id == video_id))
            if video is None:
                video = await self.db.get(Video, video_id)
                if video is None:
                    raise NotFound(VIDEO_NOT_FOUND)
                self.signer.verify(video_id, link, key=video.blob_key, quality=quality)
                raise Forbidden(INVALID_LINK)  # the user this link was made for may no longer watch
            self.signer.verify(video_id, link, key=video.blob_key, quality=quality)
        else:
            video, _ = await self.visible(await self._viewer(request, accounts), video_id)
        return await self._respond(request, video, quality)

    async def stream_by_name(
        self,
        request: Request[Any, Any, Any],
        accounts: AccountService,
        name: str,
        group_id: int | None,
        link: Link,
        quality: str = ORIGINAL,
    ) -> Response[bytes]:
        """The seed's `/api/stream/{video_name}`: the video of that name among the caller's groups."""
        if link.present:
            uid = as_id(link.uid)
            if uid is None:
                raise Forbidden(INVALID_LINK)
            # The signature names one video: among this user's videos of that name it picks the one
            # it was issued for, so another group's video of the same name leaves the link working.
            # Unverified until a signature checks, so every failure here is the same 403.
            candidates = await self._named(uid, name, group_id, limit=None)
            if not candidates:
                with contextlib.suppress(NotFound):  # a name of digits may be an id
                    candidates = [await self._by_name(uid, name, group_id)]
            for video in candidates:
                if self.signer.signs(video.id, link, key=video.blob_key, quality=quality):
                    return await self._respond(request, video, quality)
            raise Forbidden(INVALID_LINK)
        video = await self._by_name(await self._viewer(request, accounts), name, group_id)
        return await self._respond(request, video, quality)

    async def _named(self, user_id: int, name: str, group_id: int | None, limit: int | None) -> list[Video]:
        query = watchable(user_id).where(Video.name == name)
        if group_id is not None:
            query = query.where(Video.group_id == group_id)
        return list(await self.db.scalars(query.order_by(Video.id).limit(limit)))

    async def _by_name(self, user_id: int, name: str, group_id: int | None) -> Video:
        """Names are unique per group. Across groups the same name is ambiguous: 409 listing the ids
        (narrow it with `group_id`). A name of digits that matches no name is tried as a video id."""
        matches = await self._named(user_id, name, group_id, AMBIGUOUS_SHOWN)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise Conflict(
                f"Several of your groups have a video named {name!r}: add ?group_id= or stream by id",
                extra={"videos": [{"id": v.id, "group_id": v.group_id} for v in matches]},
            )
        video_id = as_id(name)
        if video_id is not None:
            query = watchable(user_id).where(Video.id == video_id)
            if group_id is not None:
                query = query.where(Video.group_id == group_id)
            video = await self.db.scalar(query)
            if video is not None:
                return video
        raise NotFound(VIDEO_NOT_FOUND)

    async def _blob_key(self, video: Video, quality: str) -> tuple[str, str]:
        """The blob and download name of a quality; 404 saying why when it is not there (yet)."""
        if quality == ORIGINAL:
            return video.blob_key, video.name
        if quality == POSTER:
            if video.poster_key is None:
                raise NotFound("This video has no poster yet")
            return video.poster_key, f"{video.name.rsplit('.', 1)[0]}.jpg"
        rendition = await self.db.get(Rendition, (video.id, quality))
        if rendition is None:
            raise NotFound(f"This video has no {quality} version (qualities are made below the original's)")
        if rendition.state != JOB_DONE:
            raise NotFound(
                f"The {quality} version of this video is not ready ({rendition.state}, "
                f"{rendition.progress} %); the original plays meanwhile"
            )
        return rendition.blob_key, rendition_name(video.name, quality)

    async def _respond(self, request: Request[Any, Any, Any], video: Video, quality: str) -> Response[bytes]:
        key, name = await self._blob_key(video, quality)
        await release(self.db)  # no pooled connection is held while the bytes flow
        return await self._respond_blob(request, key, name)

    async def _respond_blob(self, request: Request[Any, Any, Any], key: str, name: str) -> Response[bytes]:
        return await stored_response(
            request,
            self.store,
            key,
            missing=VIDEO_FILE_MISSING,
            filename=name,
            offload=self.streams.offload,
        )
