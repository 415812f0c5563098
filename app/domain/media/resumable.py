"""Resumable uploads: a session, chunks PUT by index in any order, then `complete`.

Each chunk is staged as block `index` of the session's blob key; re-sending an index replaces it, so a
retry is always safe. The database records which chunks arrived (`GET` tells a client what to resend).
`complete` is claimed by one request at a time, commits the blocks (or finds them committed by an
earlier attempt that died before recording the video), checks size and magic bytes on the committed
blob, and records the video and the session's outcome in one transaction, so repeating it returns the
same video. Sessions expire after UPLOAD_SESSION_TTL without activity; the sweeper drops their blocks.
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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models.media import (
    UPLOAD_COMPLETING,
    UPLOAD_DONE,
    UPLOAD_OPEN,
    UploadChunk,
    UploadSession,
    Video,
)
from app.domain.groups.access import require_member
from app.domain.media.blobstore import DEFAULT_CONTENT_TYPE, MAX_BLOCKS, MissingBlocks
from app.domain.media.names import display_name
from app.domain.media.schemas import ChunkAck, UploadCreate, UploadOut, UploadState, VideoOut
from app.domain.media.services import MediaService
from app.domain.media.sniff import SNIFF_BYTES, sniff
from app.domain.media.uploads import check_type, new_blob_key, now, remove_blob, too_large
from app.domain.messages.services import release
from app.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from app.runtime import Runtime

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


def _insert_ignoring_duplicates(db: AsyncSession) -> Any:
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(UploadChunk).on_conflict_do_nothing()


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
        rows = (
            await self.db.execute(
                select(UploadChunk.chunk_index, UploadChunk.size)
                .where(UploadChunk.session_id == session.id)
                .order_by(UploadChunk.chunk_index)
            )
        ).tuples()
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
        limit = self.settings.max_upload_bytes
        if body.size > limit:
            raise too_large(limit)
        await require_member(self.db, body.group_id, user_id)
        chunk = self._chunk_size(body.size, body.chunk_size)
        session = UploadSession(
            group_id=body.group_id,
            user_id=user_id,
            name=display_name(body.name),
            size=body.size,
            chunk_size=chunk,
            chunk_count=-(-body.size // chunk),
            blob_key=new_blob_key(),
            state=UPLOAD_OPEN,
            expires_at=self._expiry(),
        )
        self.db.add(session)
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
        await release(self.db)
        data = await _read_chunk(request, expected, index)
        content_type = check_type(data) if index == 0 else None  # a wrong file fails at its first chunk
        await self.store.stage(key, index, data)
        values: dict[str, Any] = {"expires_at": self._expiry()}
        if content_type is not None:
            values["content_type"] = content_type
        touched = await self.db.execute(
            update(UploadSession)
            .where(UploadSession.id == upload_id, UploadSession.state == UPLOAD_OPEN)
            .values(**values)
        )
        if touched.rowcount == 0:  # type: ignore[attr-defined]
            await self.db.rollback()
            if await self.db.get(UploadSession, upload_id) is None:  # aborted or swept meanwhile
                await remove_blob(self.store, key)
                raise NotFound(UPLOAD_NOT_FOUND)
            raise Conflict("This upload is being completed or is complete; it takes no more chunks")
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

    async def complete(self, user_id: int, upload_id: uuid.UUID) -> tuple[VideoOut, bool]:
        """(video, created): a repeated call after success returns the same video."""
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
            video = await self._finish(session, user_id)
        except BaseException:
            await self._unclaim(upload_id)
            raise
        return self.library.render(video, user_id), True

    async def _completed(self, session: UploadSession, user_id: int) -> VideoOut:
        video = await self.db.get(Video, session.video_id) if session.video_id else None
        if video is None:
            raise NotFound("The video of this upload was deleted")
        return (await self.library.present([video], user_id))[0]  # its renditions may be ready by now

    async def _finish(self, session: UploadSession, user_id: int) -> Video:
        rows = await self.db.execute(
            select(UploadChunk.chunk_index).where(UploadChunk.session_id == session.id)
        )
        received = set(rows.scalars().all())
        missing = [index for index in range(session.chunk_count) if index not in received]
        if missing:
            raise MissingBlocks(session.blob_key, missing)
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
        async with aclosing(self.store.read(key, 0, SNIFF_BYTES)) as reader:
            head = b"".join([chunk async for chunk in reader])
        found = sniff(head)
        if info.size != size or found != session.content_type:
            # Unusable, and its blocks are spent: only a new upload can fix it.
            await self._drop(session)
            if info.size != size:
                raise Conflict(f"The chunks add up to {info.size} bytes, not {size}; start again")
            check_type(head)  # 415 when it is no video at all
            raise Conflict("The first chunk was replaced by another type of file; start again")

        async def mark_done(video: Video) -> None:
            await self.db.execute(
                update(UploadSession)
                .where(UploadSession.id == session.id)
                .values(state=UPLOAD_DONE, video_id=video.id, expires_at=self._expiry())
            )

        return await self.library.add(
            group_id=session.group_id,
            uploader_id=user_id,
            name=session.name,
            key=key,
            info=info,
            on_insert=mark_done,
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
