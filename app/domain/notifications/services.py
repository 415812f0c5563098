"""Notification settings and the Mentions view."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import TypeVar
from urllib.parse import urlsplit

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialects import insert_for
from app.db.models.groups import Membership
from app.db.models.notifications import GroupNotificationSettings, NotificationSettings, PushSubscription
from app.domain.accounts.services import Principal
from app.domain.groups.access import require_member
from app.domain.messages.frames import to_frame
from app.domain.messages.schemas import ChatMessage
from app.domain.notifications.policy import zone
from app.domain.notifications.schemas import (
    GroupNotificationIn,
    GroupNotificationOut,
    Level,
    MentionPage,
    NotificationSettingsOut,
    NotificationSettingsPatch,
    PushKey,
    PushSubscriptionIn,
    PushSubscriptionOut,
)
from app.domain.notifications.vapid import unb64url, vapid_key
from app.domain.runtime import Runtime
from app.errors import ServiceUnavailable, Unprocessable


def _clock(minutes: int | None) -> str | None:
    return None if minutes is None else f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(clock: str | None) -> int | None:
    if clock is None:
        return None
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def instant(text: str | None) -> dt.datetime | None:
    """An Instant of a request body (RFC 3339 with an offset, by its pattern) as a datetime."""
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    except ValueError as error:  # the pattern's shape, yet no such day or time (2026-02-30)
        raise Unprocessable("mute_until: not a valid date and time") from error


def _level(value: str | None) -> Level | None:
    level: Level | None = msgspec.convert(value, Level | None)
    return level


T = TypeVar("T")


class NotificationService:
    def __init__(self, db: AsyncSession, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime

    async def _own(self, user_id: int) -> NotificationSettings:
        row = await self.db.get(NotificationSettings, user_id)
        return row or NotificationSettings(user_id=user_id, level="all", timezone="UTC", previews=False)

    async def _made(self, model: type[T], **key: int) -> T:
        """The row at `key` (its primary key, in column order), inserted with its defaults first when
        missing: two tabs saving someone's first settings at once both find it, neither conflicts."""
        await self.db.execute(insert_for(self.db)(model).values(**key).on_conflict_do_nothing())
        return await self.db.get_one(model, tuple(key.values()))

    async def settings(self, principal: Principal) -> NotificationSettingsOut:
        own = await self._own(principal.user_id)
        groups = await self.db.scalars(
            select(GroupNotificationSettings)
            .join(
                Membership,
                (Membership.group_id == GroupNotificationSettings.group_id)
                & (Membership.user_id == GroupNotificationSettings.user_id),
            )
            .where(GroupNotificationSettings.user_id == principal.user_id)
            .order_by(GroupNotificationSettings.group_id)
        )
        return NotificationSettingsOut(
            level=_level(own.level) or "all",
            mute_until=own.mute_until,
            dnd_start=_clock(own.dnd_start),
            dnd_end=_clock(own.dnd_end),
            timezone=own.timezone,
            previews=own.previews,
            groups=[_group_out(row) for row in groups],
        )

    async def update(self, principal: Principal, patch: NotificationSettingsPatch) -> NotificationSettingsOut:
        changes = msgspec.structs.asdict(patch)
        given = {name: value for name, value in changes.items() if value is not msgspec.UNSET}
        if ("dnd_start" in given) != ("dnd_end" in given) or (
            "dnd_start" in given and (given["dnd_start"] is None) != (given["dnd_end"] is None)
        ):
            raise Unprocessable("dnd_start and dnd_end are set or cleared together")
        if "timezone" in given and zone(given["timezone"]).key != given["timezone"]:
            raise Unprocessable("timezone: not a known IANA time zone")
        if "mute_until" in given:
            given["mute_until"] = instant(given["mute_until"])
        row = await self._made(NotificationSettings, user_id=principal.user_id)
        for name, value in given.items():
            setattr(row, name, _minutes(value) if name in ("dnd_start", "dnd_end") else value)
        await self.db.commit()
        return await self.settings(principal)

    async def set_group(
        self, principal: Principal, group_id: int, data: GroupNotificationIn
    ) -> GroupNotificationOut:
        await require_member(self.db, group_id, principal.user_id)
        row = await self._made(GroupNotificationSettings, user_id=principal.user_id, group_id=group_id)
        row.level = data.level
        row.mute_until = instant(data.mute_until)
        await self.db.commit()
        return _group_out(row)

    async def mentions(self, principal: Principal, limit: int, offset: int) -> MentionPage:
        """Messages that mention the caller in the groups they are in now, newest first."""
        group_ids = list(
            await self.db.scalars(select(Membership.group_id).where(Membership.user_id == principal.user_id))
        )
        await self.db.commit()  # holds no connection while the store reads
        rows = await self.runtime.messages.mentioning(
            principal.user_id, group_ids, limit=limit + 1, offset=offset
        )
        signer = self.runtime.attachment_signer
        items = [to_frame(row, principal.user_id, signer=signer) for row in rows[:limit]]
        return MentionPage(
            items=[item for item in items if isinstance(item, ChatMessage)],
            limit=limit,
            offset=offset,
            next_offset=offset + limit if len(rows) > limit else None,
        )


def _decoded(text: str, size: int, what: str) -> None:
    try:
        ok = len(unb64url(text.rstrip("="))) == size
    except ValueError:
        ok = False
    if not ok:
        raise Unprocessable(f"keys.{what}: expected {size} bytes, base64url")


def _internal(endpoint: str) -> bool:
    """An endpoint on this network rather than a push service's: the server must not be made to POST
    there (a resolved name can still point inward; the push services' names do not)."""
    host = (urlsplit(endpoint).hostname or "").rstrip(".").lower()
    if not host or host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # a bare name: something on the local network
    return not address.is_global


class PushService:
    """Web Push subscriptions of the caller's browsers (sending: app/domain/notifications/push.py)."""

    def __init__(self, db: AsyncSession, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime

    def key(self) -> PushKey:
        key = vapid_key(self.runtime.settings)
        return PushKey(public_key=key.public_key if key else None)

    async def subscribe(self, principal: Principal, data: PushSubscriptionIn) -> PushSubscriptionOut:
        """Idempotent on the endpoint; a browser's subscription moves to whoever signs in there."""
        if vapid_key(self.runtime.settings) is None:
            raise ServiceUnavailable("Web Push is not configured on this server (VAPID_PRIVATE_KEY)")
        allowed = ("https://", "http://") if self.runtime.settings.push_allow_http else ("https://",)
        if not data.endpoint.startswith(allowed) or (
            not self.runtime.settings.push_allow_http and _internal(data.endpoint)
        ):
            raise Unprocessable("endpoint: expected an https:// URL of a push service")
        _decoded(data.keys.p256dh, 65, "p256dh")
        _decoded(data.keys.auth, 16, "auth")
        row = await self.db.scalar(select(PushSubscription).where(PushSubscription.endpoint == data.endpoint))
        if row is None:
            row = PushSubscription(endpoint=data.endpoint, user_id=principal.user_id, p256dh="", auth="")
            self.db.add(row)
        row.user_id = principal.user_id
        row.p256dh = data.keys.p256dh
        row.auth = data.keys.auth
        await self.db.commit()
        return PushSubscriptionOut(id=row.id, endpoint=row.endpoint, created_at=row.created_at)

    async def unsubscribe(self, principal: Principal, endpoint: str) -> None:
        await self.db.execute(
            delete(PushSubscription).where(
                PushSubscription.endpoint == endpoint, PushSubscription.user_id == principal.user_id
            )
        )
        await self.db.commit()


def _group_out(row: GroupNotificationSettings) -> GroupNotificationOut:
    return GroupNotificationOut(group_id=row.group_id, level=_level(row.level), mute_until=row.mute_until)
