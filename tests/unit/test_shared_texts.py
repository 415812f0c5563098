"""Replayed messages' frames are encoded once per worker and shared by every socket that replays them,
and never outlive what they show: an edit, a delete or an attachment URL's expiry makes a new one."""

from __future__ import annotations

import datetime as dt
import time
from typing import cast

import msgspec
import pytest

from app.domain.messages.store import AttachmentRef, MessageStore, StoredMessage
from app.domain.shared.signing import EXPIRY_STEP, AttachmentSigner
from app.ws.reads import SharedReads

AT = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


def reads() -> SharedReads:
    # `text` never touches the store: the reads' queries are tested with the real stores elsewhere.
    return SharedReads(cast("MessageStore", None), 4, AttachmentSigner("k" * 40, 900))


def stored(**changes: object) -> StoredMessage:
    """A fresh object each time, as every store read makes."""
    fields: dict[str, object] = {
        "id": "m-1",
        "seq": 7,
        "group_id": 3,
        "type": "message",
        "user": "ann@example.com",
        "author_id": 1,
        "created_at": AT,
        "text": "hello",
    }
    return StoredMessage(**(fields | changes))  # type: ignore[arg-type]


def test_two_reads_of_one_message_share_one_text() -> None:
    shared = reads()
    first, second = shared.text(stored(), 1), shared.text(stored(), 2)
    assert first is second
    assert msgspec.json.decode(first)["text"] == "hello"


def test_an_edit_or_a_delete_is_never_served_from_the_old_text() -> None:
    shared = reads()
    shared.text(stored(), 1)
    edited = msgspec.json.decode(shared.text(stored(text="hello!", edited_at=AT), 1))
    assert edited["text"] == "hello!"
    deleted = msgspec.json.decode(shared.text(stored(text="", edited_at=AT, deleted_at=AT), 1))
    assert deleted["deleted"] is True


def test_reactions_are_rendered_for_each_viewer() -> None:
    shared = reads()
    with_reactions = stored(reactions={"👍": [1]})
    mine = msgspec.json.decode(shared.text(with_reactions, 1))
    theirs = msgspec.json.decode(shared.text(with_reactions, 2))
    assert mine["reactions"] != theirs["reactions"]


def test_attachment_urls_are_signed_again_once_they_would_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = reads()
    image = AttachmentRef(id=5, name="a.png", kind="image", content_type="image/png", size=10)
    message = stored(attachments=(image,))
    now = time.time()
    first = shared.text(message, 1)
    assert shared.text(stored(attachments=(image,)), 2) is first  # same expiry window: shared
    monkeypatch.setattr(time, "time", lambda: now + 2 * EXPIRY_STEP)
    renewed = shared.text(stored(attachments=(image,)), 1)
    assert renewed != first
    assert "exp=" in renewed
