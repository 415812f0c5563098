"""Stream grants: remembered for a few seconds, forgotten on any access change, and never remembered
when the database answered before a change it could not see."""

from __future__ import annotations

import pytest

from app.domain.media.catalog import grants as grants_module
from app.domain.media.catalog.grants import StreamGrants

BLOB = ("videos/abc", "film.mp4", "videos/abc")


def test_a_grant_is_remembered_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(grants_module.time, "monotonic", lambda: now[0])
    grants = StreamGrants()
    grants.put(1, 2, "original", BLOB, asked=grants.generation)
    assert grants.get(1, 2, "original") == BLOB
    assert grants.get(1, 2, "360p") is None  # one quality, one grant
    assert grants.get(3, 2, "original") is None  # one user, one grant
    now[0] += grants_module.GRANT_SECONDS + 0.5
    assert grants.get(1, 2, "original") is None
    assert len(grants) == 0


def test_clear_forgets_every_grant() -> None:
    grants = StreamGrants()
    grants.put(1, 2, "original", BLOB, asked=grants.generation)
    grants.clear()
    assert grants.get(1, 2, "original") is None


def test_an_answer_from_before_a_change_is_not_remembered() -> None:
    grants = StreamGrants()
    asked = grants.generation  # the database is asked ...
    grants.clear()  # ... a member is removed meanwhile ...
    grants.put(1, 2, "original", BLOB, asked=asked)  # ... and the (stale) yes arrives
    assert grants.get(1, 2, "original") is None


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grants_module, "GRANTS_LIMIT", 10)
    grants = StreamGrants()
    for video_id in range(25):
        grants.put(1, video_id, "original", BLOB, asked=grants.generation)
        assert len(grants) <= 10
    assert grants.get(1, 24, "original") == BLOB
