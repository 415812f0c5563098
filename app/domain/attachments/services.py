"""Attachments: kinds and their limits, recording an upload, sending, serving, and
removing what no message uses any more.

A message keeps a snapshot of its attachments (`AttachmentRef`, in whichever message store runs),
so rendering it needs no lookup; the SQL table `message_attachments` (group, seq -> attachment) is the
reference count. Deleting a message drops its links and then every attachment of it that no other
message links (row, blob and thumbnail; the bytes after the commit). A group's deletion takes its
attachments with it. An attachment never sent is swept UPLOAD_SESSION_TTL after its upload.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import Any, Literal

import msgspec
from litestar import Request, Response
from sqlalchemy import delete, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.blobstore import BlobInfo, BlobStore, in_one_chunk
from app.config import Settings
from app.db.dialects import insert_for
from app.db.models.accounts import User
from app.db.models.groups import Membership
from app.db.models.media import Attachment, MessageAttachment
from app.domain.accounts.deps import bearer_token
from app.domain.accounts.schemas import StorageUsage
from app.domain.accounts.services import AccountService
from app.domain.attachments.schemas import UploadedAttachment
from app.domain.attachments.thumbnails import THUMB_CONTENT_TYPE, ImageRefused, inspect_image_off_loop
from app.domain.media import quota
from app.domain.messages.frames import render_attachment
from app.domain.messages.schemas import AttachmentOut
from app.domain.messages.store import AttachmentRef
from app.domain.runtime import Runtime
from app.domain.shared.signing import INVALID_LINK, AttachmentSigner
from app.domain.shared.sniff import ATTACHMENTS_SUPPORTED, KINDS, sniff_attachment
from app.errors import Forbidden, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from app.streaming.response import stored_response

log = logging.getLogger("huddle.attachments")

ATTACHMENT_NOT_FOUND = "Attachment not found"
Variant = Literal["file", "thumbnail"]
SEND_MARGIN = dt.timedelta(minutes=15)  # an unsent attachment this close to its sweep cannot be sent
SWEEP_BATCH = 100


def new_attachment_key() -> str:
    return f"attachments/{uuid.uuid4()}"


# -- kinds and limits ---------------------------------------------------------------------------------


def kind_limit(settings: Settings, kind: str) -> int:
    return {
        "image": settings.attachment_image_max_bytes,
        "pdf": settings.attachment_pdf_max_bytes,
        "text": settings.attachment_text_max_bytes,
        "zip": settings.attachment_zip_max_bytes,
    }[kind]


def largest_attachment(settings: Settings) -> int:
    return max(kind_limit(settings, kind) for kind in set(KINDS.values()))


def check_attachment_type(head: bytes) -> str:
    """The sniffed content type of an attachment starting with `head`; 415 when it is no kind we take."""
    content_type = sniff_attachment(head)
    if content_type is None:
        raise UnsupportedMediaType(f"Attachments must be {ATTACHMENTS_SUPPORTED} (checked by content)")
    return content_type


# What people read: the operator's setting (ATTACHMENT_TEXT_MAX_BYTES) is no concern of theirs.
_KIND_NAMES = {"image": "Images", "pdf": "PDFs", "text": "Text files", "zip": "ZIP archives"}


def _readable_size(size: int) -> str:
    """5242880 -> "5 MB" (binary units, as the browser app shows file sizes)."""
    value, unit = float(size), "bytes"
    for larger in ("KB", "MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def check_size(settings: Settings, size: int, content_type: str | None = None) -> None:
    """413 when `size` is over the limit of its kind (over every kind's when the kind is not known yet)."""
    if content_type is None:
        limit = largest_attachment(settings)
        if size > limit:
            raise PayloadTooLarge(
                f"Attachments can be up to {_readable_size(limit)}", extra={"limit": limit, "size": size}
            )
        return
    kind = KINDS[content_type]
    limit = kind_limit(settings, kind)
    if size > limit:
        raise PayloadTooLarge(
            f"{_KIND_NAMES.get(kind, 'Attachments')} can be up to {_readable_size(limit)}",
            extra={"kind": kind, "limit": limit, "size": size},
        )


# -- recording an upload ----------------------------------------------------------------------------


def ref_of(attachment: Attachment) -> AttachmentRef:
    return AttachmentRef(
        id=attachment.id,
        name=attachment.name,
        kind=attachment.kind,
        content_type=attachment.content_type,
        size=attachment.size,
        width=attachment.width,
        height=attachment.height,
        thumbnail=attachment.thumb_blob_key is not None,
        key=attachment.blob_key,
    )


def uploaded(attachment: Attachment, signer: AttachmentSigner) -> UploadedAttachment:
    out = render_attachment(ref_of(attachment), signer)
    return UploadedAttachment(
        **msgspec.structs.asdict(out),
        group_id=attachment.group_id,
        uploader_id=attachment.uploader_id,
        created_at=attachment.created_at,
    )


async def _read_all(store: BlobStore, key: str, size: int) -> bytes:
    async with aclosing(store.read(key, 0, size)) as reader:
        return b"".join([chunk async for chunk in reader])


async def add_attachment(
    db: AsyncSession,
    runtime: Runtime,
    *,
    group_id: int,
    uploader_id: int,
    name: str,
    key: str,
    info: BlobInfo,
    on_insert: Callable[[Attachment], Awaitable[None]] | None = None,
) -> Attachment:
    """Record a committed, sniffed blob as an attachment. Images get their dimensions and a thumbnail,
    and lose their metadata (an unreadable image or a decompression bomb is a 422; the caller drops the
    bytes). `on_insert` runs in the same transaction."""
    settings, store = runtime.settings, runtime.blobs
    kind = KINDS[info.content_type]
    width = height = None
    thumb_key: str | None = None
    if kind == "image":
        try:
            async with runtime.image_slots:  # the file and its bitmap are held only inside a slot
                facts = await inspect_image_off_loop(
                    await _read_all(store, key, info.size), settings.attachment_max_pixels, info.content_type
                )
        except ImageRefused as error:
            raise Unprocessable(str(error)) from None
        width, height = facts.width, facts.height
        thumb_key = f"{key}-thumbnail"
        await store.put(thumb_key, in_one_chunk(facts.thumbnail), THUMB_CONTENT_TYPE)
        if facts.original is not None:
            # In place, before the row makes it reachable; last, so that a failed thumbnail leaves the
            # upload as sent for the client's retry of `complete` (after this, a retry finds bytes
            # that no longer match the declared size and must send the upload again).
            info = await store.put(key, in_one_chunk(facts.original), info.content_type)
    try:
        attachment = Attachment(
            group_id=group_id,
            uploader_id=uploader_id,
            name=name,
            kind=kind,
            content_type=info.content_type,
            size=info.size,
            blob_key=key,
            width=width,
            height=height,
            thumb_blob_key=thumb_key,
        )
        db.add(attachment)
        await db.flush()
        if on_insert is not None:
            await on_insert(attachment)
        await db.commit()
    except BaseException:
        if thumb_key is not None:
            await remove_blobs(store, [thumb_key])
        raise
    return attachment


# -- sending ----------------------------------------------------------------------------------------


async def refs_for_send(
    db: AsyncSession, settings: Settings, group_id: int, user_id: int, ids: Sequence[int]
) -> tuple[AttachmentRef, ...]:
    """The attachments a message of `user_id` to `group_id` may carry, in the order given: each must
    be an attachment of that group uploaded by the sender (404 otherwise, as for another group's).
    One already sent may be sent again; one never sent must not be about to be swept."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return ()
    rows = list(
        await db.scalars(
            select(Attachment).where(
                Attachment.id.in_(wanted), Attachment.group_id == group_id, Attachment.uploader_id == user_id
            )
        )
    )
    found = {row.id: row for row in rows}
    linked = set(
        await db.scalars(
            select(MessageAttachment.attachment_id).where(MessageAttachment.attachment_id.in_(wanted))
        )
    )
    await db.commit()
    oldest = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=settings.upload_session_ttl_seconds) + SEND_MARGIN
    missing = [i for i in wanted if i not in found or (i not in linked and found[i].created_at < oldest)]
    if missing:
        raise NotFound(ATTACHMENT_NOT_FOUND, extra={"attachment_ids": missing})
    return tuple(ref_of(found[i]) for i in wanted)


async def link(db: AsyncSession, group_id: int, seq: int, ids: Sequence[int]) -> None:
    """Record that message (group_id, seq) carries `ids`; repeating it (a retried send) changes nothing."""
    if not ids:
        return
    statement = insert_for(db)(MessageAttachment).on_conflict_do_nothing()
    try:
        await db.execute(statement, [{"attachment_id": i, "group_id": group_id, "seq": seq} for i in ids])
        await db.commit()
    except IntegrityError:  # an attachment removed meanwhile: the message shows it, its URL is a 404
        await db.rollback()
        log.warning("message %d/%d: an attachment was removed while it was sent", group_id, seq)


async def unlink_message(
    db: AsyncSession, store: BlobStore, group_id: int, seq: int, ids: Sequence[int]
) -> None:
    """After message (group_id, seq) was deleted: drop its links, then each of `ids` no other message
    links (row now, bytes after the commit)."""
    await db.execute(
        delete(MessageAttachment).where(MessageAttachment.group_id == group_id, MessageAttachment.seq == seq)
    )
    orphans = list(
        await db.execute(
            select(Attachment.id, Attachment.blob_key, Attachment.thumb_blob_key).where(
                Attachment.id.in_(list(ids)),
                ~exists().where(MessageAttachment.attachment_id == Attachment.id),
            )
        )
    )
    if orphans:
        await db.execute(delete(Attachment).where(Attachment.id.in_([row[0] for row in orphans])))
    await db.commit()
    await remove_blobs(store, _keys(orphans))


def _keys(rows: Sequence[tuple[int, str, str | None]]) -> list[str]:
    return [key for _, blob, thumb in rows for key in (blob, thumb) if key is not None]


async def group_attachment_keys(db: AsyncSession, group_id: int) -> list[str]:
    """Before a group is deleted (its attachments cascade): the bytes that must go too."""
    rows = await db.execute(
        select(Attachment.id, Attachment.blob_key, Attachment.thumb_blob_key).where(
            Attachment.group_id == group_id
        )
    )
    return _keys(list(rows))


async def remove_blobs(store: BlobStore, keys: Sequence[str]) -> None:
    """After the rows are gone. A failure leaves orphaned bytes (wasted space), never a broken row."""
    for key in keys:
        try:
            await store.delete(key)
        except Exception:
            log.exception("could not delete attachment blob %s", key)


async def sweep_unsent(runtime: Runtime, at: dt.datetime | None = None) -> int:
    """Remove attachments uploaded more than UPLOAD_SESSION_TTL before `at` that no message carries."""
    moment = at or dt.datetime.now(dt.UTC)
    cutoff = moment - dt.timedelta(seconds=runtime.settings.upload_session_ttl_seconds)
    swept = 0
    while True:
        async with runtime.sessions() as db:
            unsent = (
                Attachment.created_at < cutoff,
                ~exists().where(MessageAttachment.attachment_id == Attachment.id),
            )
            rows = list(
                await db.execute(
                    select(Attachment.id, Attachment.blob_key, Attachment.thumb_blob_key)
                    .where(*unsent)
                    .limit(SWEEP_BATCH)
                )
            )
            if rows:
                await db.execute(delete(Attachment).where(Attachment.id.in_([r[0] for r in rows]), *unsent))
            await db.commit()
        await remove_blobs(runtime.blobs, _keys(rows))
        swept += len(rows)
        if len(rows) < SWEEP_BATCH:
            return swept


# -- serving ----------------------------------------------------------------------------------------


class AttachmentService:
    def __init__(self, db: AsyncSession, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime
        self.store = runtime.blobs
        self.signer = runtime.attachment_signer

    async def _visible(self, user_id: int, attachment_id: int) -> Attachment:
        """An attachment of a group the user is in: sent in a message, or uploaded by the user (one
        never sent is the uploader's draft, not the group's)."""
        sent = exists().where(MessageAttachment.attachment_id == Attachment.id)
        attachment = await self.db.scalar(
            select(Attachment)
            .join(Membership, Membership.group_id == Attachment.group_id)
            .join(User, User.id == Membership.user_id)
            .where(
                Attachment.id == attachment_id,
                Membership.user_id == user_id,
                User.is_active,
                or_(Attachment.uploader_id == user_id, sent),
            )
        )
        if attachment is None:
            raise NotFound(ATTACHMENT_NOT_FOUND)
        return attachment

    async def usage(self, user_id: int) -> StorageUsage:
        return await quota.usage(self.db, self.runtime.settings, user_id)

    async def get(self, user_id: int, attachment_id: int) -> AttachmentOut:
        return render_attachment(ref_of(await self._visible(user_id, attachment_id)), self.signer)

    async def serve(
        self,
        request: Request[Any, Any, Any],
        accounts: AccountService,
        attachment_id: int,
        variant: Variant,
        exp: str | None,
        sig: str | None,
    ) -> Response[bytes]:
        """GET/HEAD of an attachment's bytes: a signed URL (judged by its signature alone, which is bound
        to the file's blob key), else a bearer token of a member of its group who may see it (anyone
        else: 404). No byte is read before."""
        if exp is not None or sig is not None:
            # The link is bound to the file's key: without the row it cannot be verified, so it is as
            # invalid as a forged one (403), and which ids exist is not told either.
            attachment = await self.db.get(Attachment, attachment_id)
            if attachment is None:
                raise Forbidden(INVALID_LINK)
            self.signer.verify(attachment_id, variant, exp, sig, key=attachment.blob_key)
        else:
            principal = await accounts.authenticate(bearer_token(request.headers.get("authorization")))
            attachment = await self._visible(principal.user_id, attachment_id)
        key = attachment.blob_key if variant == "file" else attachment.thumb_blob_key
        if key is None:
            raise NotFound("This attachment has no thumbnail")
        name, inline = attachment.name, attachment.kind == "image"
        await self.db.commit()  # no pooled connection is held while the bytes flow
        # Only raster images are shown in the page; anything else downloads. Every response also
        # carries nosniff and `Content-Security-Policy: sandbox` (app.streaming.response).
        return await stored_response(
            request,
            self.store,
            key,
            missing="The attachment file is missing from storage",
            filename=name if variant == "file" else None,
            disposition="inline" if inline else "attachment",
        )
