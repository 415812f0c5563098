"""Bodies of the notification endpoints: settings, per-group settings, the Mentions view."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.domain.messages.schemas import ChatMessage

Level = Literal["all", "mentions", "nothing"]
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, 24-hour")]
# A string, not a datetime: request bodies are decoded leniently, which would take a number as a Unix
# time; the pattern insists on RFC 3339 with its offset (services.instant() reads it).
Instant = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
        r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$",
        description="An RFC 3339 date-time with its offset",
        extra_json_schema={"format": "date-time"},
    ),
]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="An IANA time zone")]


class GroupNotificationOut(msgspec.Struct, kw_only=True):
    group_id: int
    level: Level | None  # None: the user's default
    mute_until: dt.datetime | None


class NotificationSettingsOut(msgspec.Struct, kw_only=True):
    """Which messages notify (`level`), until when everything is muted, a daily do-not-disturb
    window (`dnd_start`-`dnd_end` in `timezone`; a start after the end wraps past midnight),
    whether Web Push payloads carry the message text (`previews`), and the per-group choices."""

    level: Level
    mute_until: dt.datetime | None
    dnd_start: str | None
    dnd_end: str | None
    timezone: str
    previews: bool
    groups: list[GroupNotificationOut]


class NotificationSettingsPatch(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Only the fields given change; `dnd_start` and `dnd_end` are set (or cleared with null) together."""

    level: Level | msgspec.UnsetType = msgspec.UNSET
    mute_until: Instant | msgspec.UnsetType | None = msgspec.UNSET
    dnd_start: ClockTime | msgspec.UnsetType | None = msgspec.UNSET
    dnd_end: ClockTime | msgspec.UnsetType | None = msgspec.UNSET
    timezone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    previews: bool | msgspec.UnsetType = msgspec.UNSET


class GroupNotificationIn(msgspec.Struct, kw_only=True):
    level: Level | None = None
    mute_until: Instant | None = None


class MentionPage(msgspec.Struct, kw_only=True):
    items: list[ChatMessage]
    limit: int
    offset: int
    next_offset: int | None


B64Url = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+={0,2}$", max_length=128)]


class PushKeys(msgspec.Struct):
    p256dh: B64Url  # the browser's P-256 public key (RFC 8291), uncompressed
    auth: B64Url  # the 16-byte authentication secret


class PushSubscriptionIn(msgspec.Struct):
    """A browser's PushSubscription.toJSON(): where to POST, and the keys to encrypt for it."""

    endpoint: Annotated[str, msgspec.Meta(min_length=8, max_length=2048, pattern=r"^https?://[!-~]+$")]
    keys: PushKeys


class PushSubscriptionOut(msgspec.Struct, kw_only=True):
    id: int
    endpoint: str
    created_at: dt.datetime


class PushKey(msgspec.Struct):
    """The server's VAPID public key (the browser's applicationServerKey); null: Web Push is off."""

    public_key: str | None
