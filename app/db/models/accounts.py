"""Users and their sign-in sessions."""

from __future__ import annotations

import datetime as dt

from advanced_alchemy.base import DefaultBase, IdentityAuditBase, UUIDv7AuditBase
from advanced_alchemy.types import BigIntIdentity, DateTimeUTC
from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

EMAIL_MAX = 320
NAME_MAX = 100


class User(IdentityAuditBase):
    __tablename__ = "users"
    # SQLite: never hand a deleted row's id to a new row (signed links and caches name rows by id).
    __table_args__ = ({"sqlite_autoincrement": True},)

    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    display_name: Mapped[str | None] = mapped_column(String(NAME_MAX), default=None)
    avatar_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    status_message: Mapped[str | None] = mapped_column(String(200), default=None)
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class AuthSession(UUIDv7AuditBase):
    """One sign-in: a refresh-token family. Every access token names its session, so revoking the
    session ends the access token and the whole refresh family at once, on every worker."""

    __tablename__ = "auth_sessions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    refresh_jti: Mapped[str] = mapped_column(String(64))  # the only refresh token of the family still valid
    expires_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(255), default=None)


class UserBlock(DefaultBase):
    """`blocker_id` blocked `blocked_id`: the blocked user can no longer open a direct chat with the
    blocker nor add them to a group (security review, issue 22, item 4). Shared groups stay."""

    __tablename__ = "user_blocks"

    blocker_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    blocked_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=lambda: dt.datetime.now(dt.UTC)
    )


class OidcIdentity(IdentityAuditBase):
    """An account at an identity provider linked to a Huddle user: signing in there signs in here.
    The provider's `sub` is unique only within its issuer, so the pair names the person."""

    __tablename__ = "oidc_identities"
    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_oidc_identities_issuer_subject"),
        {"sqlite_autoincrement": True},
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))  # the OIDC_PROVIDERS key it was linked through
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(EMAIL_MAX), default=None)  # as the provider said it


__all__ = ["AuthSession", "OidcIdentity", "User", "UserBlock"]
