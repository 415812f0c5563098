"""Resumable uploads: a session, chunks PUT by index in any order, then `complete`.

Each chunk is staged as block `index` of the session's blob key; re-sending an index replaces it, so a
retry is always safe. The database records which chunks arrived (`GET` tells a client what to resend).
`complete` is claimed by one request at a time, commits the blocks (or finds them committed by an
earlier attempt that died before recording the video), checks size and magic bytes on the committed
blob, and records the video and the session's outcome in one transaction, so repeating it returns the
same video. Sessions expire after UPLOAD_SESSION_TTL without activity; the sweeper drops their blocks.

One protocol for two purposes: `video` (the group's library, MAX_UPLOAD_BYTES, video magic bytes) and
`attachment` (a file for messages: the attachment allowlist and per-kind limits, checked at creation
with the declared size, at chunk 0 with the kind, and again at completion). Both reserve their
declared size against the storage quotas when the session is created (app/domain/media/quota.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from contextlib import aclosing
from typing import Any

import anyio
from litestar import Request
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.blobstore import DEFAULT_CONTENT_TYPE, MAX_BLOCKS, BlobInfo, MissingBlocks
from app.db.dialects import insert_for
from app.db.models.media import (
    PURPOSE_ATTACHMENT,
    UPLOAD_COMPLETING,
    UPLOAD_DONE,
    UPLOAD_OPEN,
    Attachment,
    UploadChunk,
    UploadSession,
    Video,
)
from app.domain.attachments import services as attachments
from app.domain.attachments.schemas import UploadedAttachment
from app.domain.groups.access import require_member
from app.domain.media import quota
from app.domain.media.catalog.names import display_name
from app.domain.media.catalog.services import MediaService
from app.domain.media.schemas import ChunkAck, UploadCreate, UploadOut, UploadState, VideoOut
from app.domain.media.uploads.form import check_type, new_blob_key, now, remove_blob, too_large
from app.domain.messages.services import release
from app.domain.runtime import Runtime
from app.domain.shared.sniff import ATTACHMENT_SNIFF_BYTES, SNIFF_BYTES, sniff, sniff_attachment
from app.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, Unprocessable

log = logging.getLogger("huddle.media")

UPLOAD_NOT_FOUND = "Upload not found or expired"
CLAIM_STALE = dt.timedelta(minutes=15)  # a `complete` that died is taken over after this


def _state(value: str) -> UploadState:
    return "done" if value == UPLOAD_DONE else "completing" if value == UPLOAD_COMPLETING else "open"


def chunk_length(session: UploadSession, index: int) -> int:
    """Every chunk is `chunk_size` bytes except the last, which holds the rest."""
    if index < session.chunk_count - 1:
        return session.chunk_size
    return session.size - session.chunk_size * (session.chunk_count - 1)


def stale_claim(at: dt.datetime) -> Any:
    """SQL: the session is not claimed by a live `complete` (claims older than CLAIM_STALE are dead)."""
    return or_(
        UploadSession.state != UPLOAD_COMPLETING,
        UploadSession.claimed_at.is_(None),
        UploadSession.claimed_at < at - CLAIM_STALE,
    )


def _is_attachment(session: UploadSession) -> bool:
    return session.purpose == PURPOSE_ATTACHMENT


def _insert_ignoring_duplicates(db: AsyncSession) -> Any:
    return insert_for(db)(UploadChunk).on_conflict_do_nothing()


async def _read_chunk(request: Request[Any, Any, Any], expected: int, index: int) -> bytes:
    """The request body, which must be exactly `expected` bytes: 413 past it, 400 short of it."""
    announced = request.content_length
    if announced is not None and announced > expected:
        raise PayloadTooLarge(f"Chunk {index} holds {expected} bytes")
    body = bytearray()
    async with aclosing(request.stream()) as stream:
        async for data in stream:
            body += data
            if len(body) > expected:
                raise PayloadTooLarge(f"Chunk {index} holds {expected} bytes")
    if len(body) != expected:
        raise BadRequest(f"Chunk {index} holds {expected} bytes; {len(body)} arrived")
    return bytes(body)


class ResumableUploads:
    def __init__(self, db: AsyncSession, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime
        self.settings = runtime.settings
        self.store = runtime.blobs
        self.library = MediaService(db, runtime)

    def _expiry(self) -> dt.datetime:
        return now() + dt.timedelta(seconds=self.settings.upload_session_ttl_seconds)

    def _chunk_size(self, size: int, wish: int | None) -> int:
        s = self.settings
        chunk = min(max(wish or s.upload_chunk_bytes, s.upload_chunk_min_bytes), s.upload_chunk_max_bytes)
        return max(chunk, -(-size // MAX_BLOCKS))  # never more chunks than a blob has blocks

    async def _out(self, session: UploadSession) -> UploadOut:
        rows = await self.db.execute(
            select(UploadChunk.chunk_index, UploadChunk.size)
            .where(UploadChunk.session_id == session.id)
            .order_by(UploadChunk.chunk_index)
        )
        received = list(rows)
        return UploadOut(
            id=str(session.id),
            group_id=session.group_id,
            name=session.name,
            size=session.size,
            chunk_size=session.chunk_size,
            chunk_count=session.chunk_count,
            received=[index for index, _ in received],
            received_bytes=sum(size for _, size in received),
            state=_state(session.state),
            content_type=session.content_type,
            expires_at=session.expires_at,
            video_id=session.video_id,
            created_at=session.created_at,
            purpose="attachment" if _is_attachment(session) else "video",
            attachment_id=session.attachment_id,
        )

    async def _session(self, user_id: int, upload_id: uuid.UUID) -> UploadSession:
        """The caller's own live session; anyone else's, or an expired one, is a 404."""
        session = await self.db.scalar(
            select(UploadSession).where(
                UploadSession.id == upload_id,
                UploadSession.user_id == user_id,
                UploadSession.expires_at > now(),
            )
        )
        if session is None:
            raise NotFound(UPLOAD_NOT_FOUND)
        return session

    # -- the protocol ------------------------------------------------------------------------------

    async def create(self, user_id: int, body: UploadCreate) -> UploadOut:
        attachment = body.purpose == "attachment"
        if attachment:
            attachments.check_size(self.settings, body.size)
        elif body.size > self.settings.max_upload_bytes:
            raise too_large(self.settings.max_upload_bytes)
        await require_member(self.db, body.group_id, user_id)
        chunk = self._chunk_size(body.size, body.chunk_size)
        session = UploadSession(
            group_id=body.group_id,
            user_id=user_id,
            name=display_name(body.name),
            size=body.size,
            chunk_size=chunk,
            chunk_count=-(-body.size // chunk),
            blob_key=attachments.new_attachment_key() if attachment else new_blob_key(),
            state=UPLOAD_OPEN,
            expires_at=self._expiry(),
            purpose=body.purpose,
        )
        await quota.reserve(self.db, self.settings, session, now())  # its size, until it is done
        await self.db.commit()
        return await self._out(session)

    async def status(self, user_id: int, upload_id: uuid.UUID) -> UploadOut:
        return await self._out(await self._session(user_id, upload_id))

    async def put_chunk(
        self, user_id: int, upload_id: uuid.UUID, index: int, request: Request[Any, Any, Any]
    ) -> ChunkAck:
        session = await self._session(user_id, upload_id)
        if session.state != UPLOAD_OPEN:
            raise Conflict("This upload is being completed or is complete; it takes no more chunks")
        if index >= session.chunk_count:
            raise BadRequest(f"This upload has chunks 0 to {session.chunk_count - 1}")
        key, expected = session.blob_key, chunk_length(session, index)
        attachment, size = _is_attachment(session), session.size
        await release(self.db)
        data = await _read_chunk(request, expected, index)
        content_type = None
        if index == 0:  # a wrong file fails at its first chunk, before anything is staged
            if attachment:
                content_type = attachments.check_attachment_type(data[:ATTACHMENT_SNIFF_BYTES])
                attachments.check_size(self.settings, size, content_type)
            else:
                content_type = check_type(data)
        values: dict[str, Any] = {"expires_at": self._expiry()}
        if content_type is not None:
            values["content_type"] = content_type
        # The session's row stays locked until the commit: a `complete` claiming it waits for the
        # bytes to be staged, and one that claimed first refuses them before any are staged.
        touched = await self.db.execute(
            update(UploadSession)
            .where(UploadSession.id == upload_id, UploadSession.state == UPLOAD_OPEN)
            .values(**values)
        )
        if touched.rowcount == 0:  # type: ignore[attr-defined]
            await self.db.rollback()
            if await self.db.get(UploadSession, upload_id) is None:  # aborted or swept meanwhile
                raise NotFound(UPLOAD_NOT_FOUND)
            raise Conflict("This upload is being completed or is complete; it takes no more chunks")
        await self.store.stage(key, index, data)
        # A retried index is already recorded (same size: sizes are fixed by index), so keep that row.
        await self.db.execute(
            _insert_ignoring_duplicates(self.db).values(
                session_id=upload_id, chunk_index=index, size=expected
            )
        )
        received = await self.db.scalar(
            select(func.count()).select_from(UploadChunk).where(UploadChunk.session_id == upload_id)
        )
        await self.db.commit()
        return ChunkAck(
            upload_id=str(upload_id),
            index=index,
            size=expected,
            received_count=received or 0,
            chunk_count=session.chunk_count,
        )

    async def complete(
        self, user_id: int, upload_id: uuid.UUID
    ) -> tuple[VideoOut | UploadedAttachment, bool]:
        """(video or attachment, created): a repeated call after success returns the same one."""
        session = await self._session(user_id, upload_id)
        if session.state == UPLOAD_DONE:
            return await self._completed(session, user_id), False
        await require_member(self.db, session.group_id, user_id)
        moment = now()
        claimed = await self.db.execute(
            update(UploadSession)
            .where(UploadSession.id == upload_id, UploadSession.state != UPLOAD_DONE, stale_claim(moment))
            .values(state=UPLOAD_COMPLETING, claimed_at=moment)
        )
        if claimed.rowcount == 0:  # type: ignore[attr-defined]
            await self.db.rollback()
            session = await self._session(user_id, upload_id)
            if session.state == UPLOAD_DONE:  # another request finished it just now
                return await self._completed(session, user_id), False
            raise Conflict("This upload is being completed by another request")
        await self.db.commit()
        try:
            made = await self._finish(session, user_id)
        except BaseException:
            await self._unclaim(upload_id)
            raise
        if isinstance(made, Attachment):
            return attachments.uploaded(made, self.runtime.attachment_signer), True
        return self.library.render(made, user_id), True

    async def _completed(self, session: UploadSession, user_id: int) -> VideoOut | UploadedAttachment:
        if _is_attachment(session):
            made = await self.db.get(Attachment, session.attachment_id) if session.attachment_id else None
            if made is None:
                raise NotFound("The attachment of this upload was deleted")
            return attachments.uploaded(made, self.runtime.attachment_signer)
        video = await self.db.get(Video, session.video_id) if session.video_id else None
        if video is None:
            raise NotFound("The video of this upload was deleted")
        return (await self.library.present([video], user_id))[0]  # its renditions may be ready by now

    async def _finish(self, session: UploadSession, user_id: int) -> Video | Attachment:
        rows = await self.db.execute(
            select(UploadChunk.chunk_index).where(UploadChunk.session_id == session.id)
        )
        received = set(rows.scalars().all())
        missing = [index for index in range(session.chunk_count) if index not in received]
        if missing:
            raise MissingBlocks(session.blob_key, missing)
        attachment = _is_attachment(session)
        if attachment:
            attachments.check_size(self.settings, session.size, session.content_type)
        await release(self.db)
        key, size = session.blob_key, session.size
        # An earlier attempt may have committed the blob and died before recording the video.
        info = await self.store.stat(key)
        if info is None or info.size != size:
            try:
                info = await self.store.commit(
                    key, session.chunk_count, session.content_type or DEFAULT_CONTENT_TYPE
                )
            except MissingBlocks as error:  # recorded but not in storage: ask for them again
                await self.db.execute(
                    delete(UploadChunk).where(
                        UploadChunk.session_id == session.id, UploadChunk.chunk_index.in_(error.missing)
                    )
                )
                await self.db.commit()
                raise
        head_bytes = ATTACHMENT_SNIFF_BYTES if attachment else SNIFF_BYTES
        async with aclosing(self.store.read(key, 0, head_bytes)) as reader:
            head = b"".join([chunk async for chunk in reader])
        found = sniff_attachment(head) if attachment else sniff(head)
        if info.size != size or found != session.content_type:
            # Unusable, and its blocks are spent: only a new upload can fix it.
            await self._drop(session)
            if info.size != size:
                raise Conflict(f"The chunks add up to {info.size} bytes, not {size}; start again")
            if attachment:
                attachments.check_attachment_type(head)  # 415 when it is no kind we take
            else:
                check_type(head)  # 415 when it is no video at all
            raise Conflict("The first chunk was replaced by another type of file; start again")
        if attachment:
            return await self._add_attachment(session, user_id, info)

        async def mark_done(video: Video) -> None:
            await self.db.execute(
                update(UploadSession)
                .where(UploadSession.id == session.id)
                .values(state=UPLOAD_DONE, video_id=video.id, expires_at=self._expiry())
            )
            await self._settle(session, video.size)

        return await self.library.add(
            group_id=session.group_id,
            uploader_id=user_id,
            name=session.name,
            key=key,
            info=info,
            on_insert=mark_done,
        )

    async def _add_attachment(self, session: UploadSession, user_id: int, info: BlobInfo) -> Attachment:
        async def mark_done(made: Attachment) -> None:
            await self.db.execute(
                update(UploadSession)
                .where(UploadSession.id == session.id)
                .values(state=UPLOAD_DONE, attachment_id=made.id, expires_at=self._expiry())
            )
            await self._settle(session, made.size)

        try:
            return await attachments.add_attachment(
                self.db,
                self.runtime,
                group_id=session.group_id,
                uploader_id=user_id,
                name=session.name,
                key=session.blob_key,
                info=info,
                on_insert=mark_done,
            )
        except Unprocessable:  # an unreadable image or a decompression bomb: its bytes go
            await self.db.rollback()
            await self._drop(session)
            raise

    async def _settle(self, session: UploadSession, size: int) -> None:
        """The reservation became a video or an attachment in this transaction: check the quota
        again, atomically with that write (it may have been lowered meanwhile)."""
        await quota.enforce(
            self.db, self.settings, group_id=session.group_id, user_id=session.user_id, size=size
        )

    async def _drop(self, session: UploadSession) -> None:
        """Forget a session whose committed bytes are unusable, and the bytes with it."""
        await self.db.execute(delete(UploadSession).where(UploadSession.id == session.id))
        await self.db.commit()
        await remove_blob(self.store, session.blob_key)

    async def _unclaim(self, upload_id: uuid.UUID) -> None:
        """Let a failed completion be tried again (or, if even this fails, after CLAIM_STALE)."""
        with anyio.CancelScope(shield=True):
            try:
                await self.db.rollback()
                await self.db.execute(
                    update(UploadSession)
                    .where(UploadSession.id == upload_id, UploadSession.state == UPLOAD_COMPLETING)
                    .values(state=UPLOAD_OPEN, claimed_at=None)
                )
                await self.db.commit()
            except Exception:  # never hide the error that brought us here
                log.exception("could not release the completion claim of upload %s", upload_id)

    async def abort(self, user_id: int, upload_id: uuid.UUID) -> None:
        session = await self._session(user_id, upload_id)
        if session.state == UPLOAD_DONE:
            raise Conflict("This upload is complete; delete the video instead")
        removed = await self.db.execute(
            delete(UploadSession).where(
                UploadSession.id == upload_id, UploadSession.state != UPLOAD_DONE, stale_claim(now())
            )
        )
        if removed.rowcount == 0:  # type: ignore[attr-defined]
            await self.db.rollback()
            raise Conflict("This upload is being completed by another request")
        await self.db.commit()
        await remove_blob(self.store, session.blob_key)  # staged blocks, or a blob no video uses
