"""Grants (who may stream a video, who is a member): remembered for a few seconds, forgotten on any
access change, and never remembered when the database answered before a change it could not see."""

from __future__ import annotations

import pytest

from app.domain import grants as grants_module
from app.domain.grants import Grants, member_grant, stream_grant

BLOB = ("videos/abc", "film.mp4", "videos/abc")


def test_a_grant_is_remembered_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(grants_module.time, "monotonic", lambda: now[0])
    grants = Grants()
    grants.put(stream_grant(1, 2, "original"), BLOB, asked=grants.generation)
    assert grants.get(stream_grant(1, 2, "original")) == BLOB
    assert grants.get(stream_grant(1, 2, "360p")) is None  # one quality, one grant
    assert grants.get(stream_grant(3, 2, "original")) is None  # one user, one grant
    now[0] += grants_module.GRANT_SECONDS + 0.5
    assert grants.get(stream_grant(1, 2, "original")) is None
    assert len(grants) == 0


def test_clear_forgets_every_grant() -> None:
    grants = Grants()
    grants.put(stream_grant(1, 2, "original"), BLOB, asked=grants.generation)
    grants.clear()
    assert grants.get(stream_grant(1, 2, "original")) is None


def test_an_answer_from_before_a_change_is_not_remembered() -> None:
    grants = Grants()
    asked = grants.generation  # the database is asked ...
    grants.clear()  # ... a member is removed meanwhile ...
    grants.put(stream_grant(1, 2, "original"), BLOB, asked=asked)  # ... and the (stale) yes arrives
    assert grants.get(stream_grant(1, 2, "original")) is None


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grants_module, "GRANTS_LIMIT", 10)
    grants = Grants()
    for video_id in range(25):
        grants.put(stream_grant(1, video_id, "original"), BLOB, asked=grants.generation)
        assert len(grants) <= 10
    assert grants.get(stream_grant(1, 24, "original")) == BLOB


def test_a_membership_is_its_own_grant_and_a_direct_chat_is_remembered_as_such() -> None:
    grants = Grants()
    grants.put(member_grant(7, 1), False, asked=grants.generation)
    grants.put(member_grant(8, 1), True, asked=grants.generation)
    assert grants.get(member_grant(7, 1)) is False  # remembered: a member of a group chat
    assert grants.get(member_grant(8, 1)) is True  # a member of a direct chat
    assert grants.get(member_grant(7, 2)) is None  # never asked
    assert grants.get(stream_grant(1, 7, "original")) is None  # a membership grants no stream
    grants.clear()
    assert grants.get(member_grant(7, 1)) is None
