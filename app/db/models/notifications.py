"""Notification settings (per user, per group) and Web Push subscriptions (issue 30)."""

from __future__ import annotations

import datetime as dt

from advanced_alchemy.base import DefaultBase, IdentityAuditBase
from advanced_alchemy.types import BigIntIdentity, DateTimeUTC
from sqlalchemy import Boolean, ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

LEVEL_ALL = "all"
LEVEL_MENTIONS = "mentions"
LEVEL_NOTHING = "nothing"
ENDPOINT_MAX = 2048


class NotificationSettings(DefaultBase):
    """A user's defaults: which messages notify, a mute, a daily do-not-disturb window (minutes after
    midnight in `timezone`; start after end wraps past midnight) and whether pushes carry text."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[str] = mapped_column(String(16), default=LEVEL_ALL)
    mute_until: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    dnd_start: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    dnd_end: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    previews: Mapped[bool] = mapped_column(Boolean, default=False)


class GroupNotificationSettings(DefaultBase):
    """One user's choice for one group; a NULL level follows the user's default."""

    __tablename__ = "group_notification_settings"

    user_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[str | None] = mapped_column(String(16), default=None)
    mute_until: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class PushSubscription(IdentityAuditBase):
    """A browser's Web Push subscription (RFC 8030): where to POST, and the keys (RFC 8291) that
    encrypt for it."""

    __tablename__ = "push_subscriptions"
    __table_args__ = ({"sqlite_autoincrement": True},)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(ENDPOINT_MAX), unique=True)
    p256dh: Mapped[str] = mapped_column(String(128))
    auth: Mapped[str] = mapped_column(String(64))


__all__ = ["GroupNotificationSettings", "NotificationSettings", "PushSubscription"]
