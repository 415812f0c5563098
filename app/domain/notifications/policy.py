"""Whether a message notifies someone now: their level (the group's choice, else their default),
mutes and the do-not-disturb window. The SPA applies the same rules (app/static/js/notifications.js)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.db.models.notifications import LEVEL_ALL, LEVEL_MENTIONS, LEVEL_NOTHING


@dataclass(frozen=True, slots=True)
class Policy:
    level: str = LEVEL_ALL
    mute_until: dt.datetime | None = None
    dnd_start: int | None = None  # minutes after midnight
    dnd_end: int | None = None
    timezone: str = "UTC"
    group_level: str | None = None
    group_mute_until: dt.datetime | None = None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones ("Europe")
        return ZoneInfo("UTC")


def in_dnd(policy: Policy, now: dt.datetime) -> bool:
    if policy.dnd_start is None or policy.dnd_end is None or policy.dnd_start == policy.dnd_end:
        return False
    local = now.astimezone(zone(policy.timezone))
    minute = local.hour * 60 + local.minute
    if policy.dnd_start < policy.dnd_end:
        return policy.dnd_start <= minute < policy.dnd_end
    return minute >= policy.dnd_start or minute < policy.dnd_end  # wraps past midnight


def notifies(policy: Policy, *, mentioned: bool, now: dt.datetime) -> bool:
    level = policy.group_level or policy.level
    if level == LEVEL_NOTHING or (level == LEVEL_MENTIONS and not mentioned):
        return False
    if any(until is not None and until > now for until in (policy.mute_until, policy.group_mute_until)):
        return False
    return not in_dnd(policy, now)
