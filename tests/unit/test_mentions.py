"""Mention parsing and resolution (app/domain/notifications/mentions.py) and the notification policy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from app.config import ConfigError, Settings, settings_from_env
from app.domain.notifications.mentions import Member, MentionIndex, may_broadcast
from app.domain.notifications.policy import Policy, in_dnd, notifies
from app.domain.notifications.services import _internal
from app.domain.notifications.vapid import new_private_key, vapid_key

ZOE, ANNA, ANNA_MARIA, LI, BOB = 1, 2, 3, 4, 5
INDEX = MentionIndex(
    [
        Member(ZOE, ("Zoë", "zoe")),
        Member(ANNA, ("Anna",)),
        Member(ANNA_MARIA, ("Anna Maria", "am")),
        Member(LI, ("李小龍",)),
        Member(BOB, ("Bob",), admin=True),
    ]
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi @Zoë", (ZOE,)),
        ("@zoë, look", (ZOE,)),  # case-folded, punctuation ends the name
        ("ZOË? @ZOË!", (ZOE,)),
        ("@zoe.", (ZOE,)),  # the account name works too
        ("(@Anna) and @Anna Maria: hi", (ANNA, ANNA_MARIA)),  # the longest name wins
        ("@Anna Mariana", (ANNA,)),  # not "Anna Maria": it ends inside a word
        ("@Annabel", ()),  # no such member: plain text
        ("mail anna@example.com", ()),  # an @ inside a word is not a mention
        ("@李小龍 你好", (LI,)),
        ("@李小龍你好", ()),  # a longer word: not the name
        ("@Zoe\u0308 decomposed", (ZOE,)),  # NFC: e + combining diaeresis is ë
        ("@@Bob", ()),
        ("@Bob @Bob @Zoë", (BOB, ZOE)),  # each once, in order of first mention
        ("@Nobody here", ()),
        ("", ()),
    ],
)
def test_names_resolve_to_members(text: str, expected: tuple[int, ...]) -> None:
    assert INDEX.resolve(text, author_id=BOB, broadcast=False) == expected


def test_all_and_here_mention_everyone_else_when_allowed() -> None:
    everyone_but_bob = (ZOE, ANNA, ANNA_MARIA, LI)
    assert INDEX.resolve("@all meeting", author_id=BOB, broadcast=True) == everyone_but_bob
    assert INDEX.resolve("hey @here!", author_id=BOB, broadcast=True) == everyone_but_bob
    assert INDEX.resolve("@all meeting", author_id=BOB, broadcast=False) == ()  # plain text
    assert INDEX.resolve("@allison", author_id=BOB, broadcast=True) == ()


def test_only_admins_broadcast_in_large_groups() -> None:
    members = INDEX.members
    assert may_broadcast(members, ZOE, limit=5)  # 5 members: anyone
    assert not may_broadcast(members, ZOE, limit=4)
    assert may_broadcast(members, BOB, limit=4)  # an admin


NOW = dt.datetime(2026, 12, 5, 22, 30, tzinfo=dt.UTC)  # 23:30 in Berlin


def test_policy_levels_mutes_and_do_not_disturb() -> None:
    assert notifies(Policy(), mentioned=False, now=NOW)
    assert not notifies(Policy(level="mentions"), mentioned=False, now=NOW)
    assert notifies(Policy(level="mentions"), mentioned=True, now=NOW)
    assert not notifies(Policy(level="nothing"), mentioned=True, now=NOW)
    assert notifies(Policy(level="nothing", group_level="all"), mentioned=False, now=NOW)  # group wins
    assert not notifies(Policy(group_level="mentions"), mentioned=False, now=NOW)
    later = NOW + dt.timedelta(hours=1)
    assert not notifies(Policy(mute_until=later), mentioned=True, now=NOW)
    assert not notifies(Policy(group_mute_until=later), mentioned=True, now=NOW)
    assert notifies(Policy(mute_until=NOW - dt.timedelta(seconds=1)), mentioned=False, now=NOW)
    # 22:00-07:00 in Berlin wraps past midnight; 23:30 there is inside, 22:30 UTC would not be in 23-24 UTC.
    night = Policy(dnd_start=22 * 60, dnd_end=7 * 60, timezone="Europe/Berlin")
    assert in_dnd(night, NOW)
    assert not notifies(night, mentioned=True, now=NOW)
    assert not in_dnd(Policy(dnd_start=23 * 60, dnd_end=24 * 60 - 1, timezone="UTC"), NOW)
    assert in_dnd(Policy(dnd_start=23 * 60, dnd_end=24 * 60 - 1, timezone="Europe/Berlin"), NOW)
    assert not in_dnd(night, NOW + dt.timedelta(hours=9))  # 08:30 in Berlin


def test_notification_settings_from_the_environment(tmp_path: Path) -> None:
    settings = settings_from_env({"MENTION_ALL_LIMIT": "5", "VAPID_SUBJECT": "https://chat.example.com"})
    assert (settings.mention_all_limit, settings.vapid_subject, settings.vapid_private_key) == (
        5,
        "https://chat.example.com",
        "",
    )
    key = new_private_key()
    assert settings_from_env({"VAPID_PRIVATE_KEY": key}).vapid_private_key == key
    with pytest.raises(ConfigError, match="VAPID_PRIVATE_KEY") as bad:
        settings_from_env({"VAPID_PRIVATE_KEY": "not-a-key", "VAPID_SUBJECT": "ops@example.com"})
    assert "VAPID_SUBJECT" in str(bad.value)
    # Generated once into var/, the same key for every worker after; none in production without one.
    first = vapid_key(Settings(var_dir=tmp_path))
    assert first is not None
    assert (tmp_path / "vapid_private_key").stat().st_mode & 0o777 == 0o600
    again = vapid_key(Settings(var_dir=tmp_path))
    assert again is not None
    assert again.public_key == first.public_key
    assert vapid_key(Settings(var_dir=tmp_path / "prod", environment="production")) is None
    configured = vapid_key(Settings(var_dir=tmp_path / "set", vapid_private_key=key))
    assert configured is not None
    assert not (tmp_path / "set" / "vapid_private_key").exists()


@pytest.mark.parametrize(
    ("endpoint", "internal"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", False),
        ("https://updates.push.services.mozilla.com/wpush/v2/x", False),
        ("https://127.0.0.1/x", True),
        ("https://10.1.2.3:8443/x", True),
        ("https://[::1]/x", True),
        ("https://169.254.169.254/latest", True),
        ("https://localhost/x", True),
        ("https://redis/x", True),
        ("https://db.internal/x", True),
        ("https://8.8.8.8/x", False),
    ],
)
def test_push_endpoints_on_this_network_are_refused(endpoint: str, internal: bool) -> None:
    assert _internal(endpoint) is internal
