"""Storage quotas: what a user, and a group, may keep in the blob store.

Counted: videos, their subtitle tracks and attachments (by uploader for the user, by group for the
group), and the declared size of every upload session not yet done, which bounds the chunks it may
stage. A session reserves its size when it is created, so staged-but-never-completed chunks count
too, and completing it moves the bytes from reserved to used in one transaction.

The check is atomic with the write it guards: `enforce` runs in the transaction that inserted the
row, after it, so the sums include it. PostgreSQL serializes the writers of one group and of one
user with transaction-scoped advisory locks (not row locks, which would deadlock against the
foreign-key locks those inserts take); SQLite has one writer at a time, held from the insert on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, func, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.dialects import is_postgres
from app.db.models.media import UPLOAD_DONE, Attachment, Subtitle, UploadSession, Video
from app.domain.accounts.schemas import StorageUsage
from app.errors import QuotaExceeded, RateLimited

# Advisory lock keys: a namespace in the high bits, the id below.
_USER_LOCK, _GROUP_LOCK = 0x48_55_44_51 << 32, 0x48_55_44_47 << 32


def _stored(owner_column: str) -> Any:
    """SQL: the bytes of the videos, subtitles and attachments whose `owner_column` is `:owner`."""
    owner: Any = bindparam("owner")
    parts = [
        select(model.size.label("size")).where(getattr(model, owner_column) == owner)
        for model in (Video, Subtitle, Attachment)
    ]
    rows = union_all(*parts).subquery()
    return select(func.coalesce(func.sum(rows.c.size), 0))


def _reserved(owner_column: str) -> Any:
    """SQL: the declared bytes of the unfinished upload sessions whose `owner_column` is `:owner`."""
    return select(func.coalesce(func.sum(UploadSession.size), 0)).where(
        UploadSession.state != UPLOAD_DONE, getattr(UploadSession, owner_column) == bindparam("owner")
    )


# Built once: making these expressions cost more than running them (GET /users/me asks every time).
_USER_STORED, _USER_RESERVED = _stored("uploader_id"), _reserved("user_id")
_GROUP_STORED, _GROUP_RESERVED = _stored("group_id"), _reserved("group_id")


async def user_usage(db: AsyncSession, user_id: int) -> tuple[int, int]:
    """(stored, reserved) bytes of a user."""
    stored = await db.scalar(_USER_STORED, {"owner": user_id})
    reserved = await db.scalar(_USER_RESERVED, {"owner": user_id})
    return int(stored or 0), int(reserved or 0)


async def group_usage(db: AsyncSession, group_id: int) -> tuple[int, int]:
    stored = await db.scalar(_GROUP_STORED, {"owner": group_id})
    reserved = await db.scalar(_GROUP_RESERVED, {"owner": group_id})
    return int(stored or 0), int(reserved or 0)


async def usage(db: AsyncSession, settings: Settings, user_id: int) -> StorageUsage:
    stored, reserved = await user_usage(db, user_id)
    return StorageUsage(used=stored, reserved=reserved, quota=settings.storage_quota_bytes)


async def lock(db: AsyncSession, group_id: int, user_id: int) -> None:
    """PostgreSQL: hold the group's, then the user's, quota lock until the transaction ends."""
    if not is_postgres(db):
        return
    for key in (_GROUP_LOCK | group_id, _USER_LOCK | user_id):
        await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def enforce(db: AsyncSession, settings: Settings, *, group_id: int, user_id: int, size: int) -> None:
    """In the transaction that just wrote `size` bytes (a session, a video, an attachment): 409
    `quota_exceeded`, the transaction rolled back, when the user's or the group's total now passes
    its quota."""
    await lock(db, group_id, user_id)
    for scope, (stored, reserved), quota in (
        ("user", await user_usage(db, user_id), settings.storage_quota_bytes),
        ("group", await group_usage(db, group_id), settings.group_storage_quota_bytes),
    ):
        if stored + reserved > quota:
            used = stored + reserved - size
            await db.rollback()
            raise QuotaExceeded(
                f"This upload of {size} bytes would exceed the {scope}'s storage quota ({used} of {quota}"
                " bytes used or reserved by unfinished uploads); delete videos or messages with "
                "attachments, or abort unfinished uploads, to free space",
                extra={"scope": scope, "used": used, "quota": quota, "size": size},
            )


async def reserve(db: AsyncSession, settings: Settings, session: UploadSession, at: dt.datetime) -> None:
    """Insert a new upload session, reserving its declared size (`enforce`), and refuse it with 429
    when the user would have more live unfinished uploads than UPLOAD_SESSIONS_PER_USER (Retry-After:
    until the oldest expires). Rolled back when refused; the caller commits."""
    db.add(session)
    await db.flush()
    await enforce(db, settings, group_id=session.group_id, user_id=session.user_id, size=session.size)
    count, first_expiry = (
        await db.execute(
            select(func.count(), func.min(UploadSession.expires_at)).where(
                UploadSession.user_id == session.user_id,
                UploadSession.state != UPLOAD_DONE,
                UploadSession.expires_at > at,
            )
        )
    ).one()
    limit = settings.upload_sessions_per_user
    if count > limit:
        await db.rollback()
        wait = int((first_expiry - at).total_seconds()) if first_expiry is not None else 1
        raise RateLimited(
            wait,
            f"At most {limit} unfinished uploads per user: complete or abort one "
            "(DELETE /api/v1/uploads/{id}) first",
        )
