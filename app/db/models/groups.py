"""Groups (including 1:1 direct chats) and memberships with roles and read positions."""

from __future__ import annotations

import datetime as dt

from advanced_alchemy.base import DefaultBase, IdentityAuditBase
from advanced_alchemy.types import BigIntIdentity, DateTimeUTC
from sqlalchemy import BigInteger, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.accounts import NAME_MAX

DESCRIPTION_MAX = 1000
ROLE_ADMIN = "admin"
ROLE_MEMBER = "member"


class Group(IdentityAuditBase):
    __tablename__ = "groups"
    # SQLite: never hand a deleted row's id to a new row (signed links and caches name rows by id).
    __table_args__ = ({"sqlite_autoincrement": True},)

    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    is_direct: Mapped[bool] = mapped_column(Boolean, default=False)
    # "<low user id>:<high user id>" for direct chats: the unique constraint makes creation race-safe.
    direct_key: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)


class Membership(DefaultBase):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), default=ROLE_MEMBER)
    last_read_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    joined_at: Mapped[dt.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=lambda: dt.datetime.now(dt.UTC)
    )
