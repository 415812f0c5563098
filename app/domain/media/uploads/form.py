"""Multipart uploads, and what every upload shares: generated keys, the magic-byte check, cleanup.

The body is read as a stream: fields before the file (the seed's group_id) are read first and checked,
then the file part goes straight to the blob store behind a byte counter (MAX_UPLOAD_BYTES), after its
first bytes were sniffed. Nothing is recorded until the bytes are stored; any failure removes them.
No database connection is held while bytes travel.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.blobstore import BlobStore
from app.domain.groups.access import member_group_ids, require_member
from app.domain.media import quota
from app.domain.media.catalog.names import display_name
from app.domain.media.catalog.services import MediaService, as_id
from app.domain.media.schemas import VideoOut
from app.domain.media.uploads.multipart import FORM_OVERHEAD, MultipartReader, Part
from app.domain.messages.services import release
from app.domain.runtime import Runtime
from app.domain.shared.sniff import SNIFF_BYTES, SUPPORTED, sniff
from app.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

log = logging.getLogger("huddle.media")

FILE_FIELD = "file"
GROUP_FIELD = "group_id"


def new_blob_key() -> str:
    return f"videos/{uuid.uuid4()}"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_type(head: bytes) -> str:
    """The sniffed content type of a file starting with `head`; 415 when it is not a video we take."""
    content_type = sniff(head[:SNIFF_BYTES])
    if content_type is None:
        raise UnsupportedMediaType(f"This is not a supported video file ({SUPPORTED})")
    return content_type


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Videos are limited to {limit} bytes (MAX_UPLOAD_BYTES)")


async def remove_blob(store: BlobStore, key: str) -> None:
    """Drop whatever an abandoned upload left under `key`: staged blocks and a committed blob."""
    with anyio.CancelScope(shield=True):  # a cancelled request still cleans up after itself
        try:
            await store.discard(key)
            await store.delete(key)
        except Exception:  # never hide the error that brought us here
            log.exception("could not remove the blob of an abandoned upload: %s", key)


async def _head(data: AsyncIterator[bytes]) -> bytes:
    """At least SNIFF_BYTES from the start of the file (fewer only when it is that short)."""
    head = bytearray()
    async for chunk in data:
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    return bytes(head)


async def _limited(head: bytes, rest: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    size = len(head)
    if size > limit:
        raise too_large(limit)
    yield head
    async for chunk in rest:
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        yield chunk


class FormUploads:
    """`multipart/form-data` uploads (the canonical group route and the seed's `/api/upload`)."""

    def __init__(self, db: AsyncSession, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime
        self.store = runtime.blobs
        self.library = MediaService(db, runtime)

    async def _member(self, group_id: int, user_id: int) -> None:
        await require_member(self.db, group_id, user_id)
        await release(self.db)

    async def _only_group(self, user_id: int) -> int:
        """Without a group_id, the caller's one group; ambiguity is a 400, never a guess."""
        groups = list(await self.db.scalars(member_group_ids(user_id).limit(2)))
        await release(self.db)
        if len(groups) != 1:
            raise BadRequest(
                "Say which group the video is for: a group_id query parameter, or a group_id form field "
                "before the file" + ("" if groups else " (you are in no group yet)")
            )
        return groups[0]

    async def upload(
        self,
        request: Request[Any, Any, Any],
        user_id: int,
        group_id: int | None,
        *,
        group_in_form: bool = False,
    ) -> VideoOut:
        limit = self.runtime.settings.max_upload_bytes
        max_body = limit + FORM_OVERHEAD
        if (request.content_length or 0) > max_body:
            raise too_large(limit)  # announced too big: refused before a byte is read
        if group_id is not None:
            await self._member(group_id, user_id)
        else:
            await release(self.db)
        reader = MultipartReader(request.stream(), request.headers.get("content-type"), max_body)
        part, group_id = await self._file_part(reader, user_id, group_id, group_in_form=group_in_form)
        return await self._store(reader, part, user_id, group_id, limit)

    async def _file_part(
        self, reader: MultipartReader, user_id: int, group_id: int | None, *, group_in_form: bool
    ) -> tuple[Part, int]:
        """Read up to the `file` part, taking a group_id field on the way (checked before any file byte)."""
        while (part := await reader.next_part()) is not None:
            if part.name == FILE_FIELD:
                return part, group_id if group_id is not None else await self._only_group(user_id)
            if part.name == GROUP_FIELD and group_in_form and group_id is None:
                group_id = as_id((await reader.text()).strip())
                if group_id is None:
                    raise BadRequest("group_id must be a group id")
                await self._member(group_id, user_id)
        raise BadRequest("The form has no `file` field")

    async def _store(
        self, reader: MultipartReader, part: Part, user_id: int, group_id: int, limit: int
    ) -> VideoOut:
        data = reader.data()
        head = await _head(data)
        content_type = check_type(head)
        key = new_blob_key()
        try:
            info = await self.store.put(key, _limited(head, data, limit), content_type)
            await reader.finish()
            video = await self.library.add(
                group_id=group_id,
                uploader_id=user_id,
                name=display_name(part.filename),
                key=key,
                info=info,
                on_insert=lambda made: quota.enforce(  # the quota, atomically with the insert
                    self.db, self.runtime.settings, group_id=group_id, user_id=user_id, size=made.size
                ),
            )
        except BaseException:
            await remove_blob(self.store, key)
            raise
        return self.library.render(video, user_id)
