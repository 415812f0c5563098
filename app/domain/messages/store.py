"""The message store port: one small Protocol, one adapter per backend (SQL, MongoDB).

Every adapter guarantees, per group: `seq` strictly increasing and gap-free, assigned atomically with
the write; at most one message per (group, author, client_msg_id); tombstones keep their seq.
The contract suite in tests/integration/messages/test_store_contract.py runs against every adapter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Protocol

import msgspec

MAX_REACTION_KINDS = 20  # distinct emoji per message


class AttachmentRef(msgspec.Struct, frozen=True, kw_only=True):
    """What a message keeps of one of its attachments (they never change once uploaded), so every
    rendering of the message (history, real-time, search) needs no other lookup."""

    id: int
    name: str
    kind: str  # image, pdf, text, zip
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None
    thumbnail: bool = False
    # The blob key, which signed URLs are bound to (never shown); None in snapshots made before.
    key: str | None = None


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A message about to be appended; the store assigns `id` and `seq`."""

    group_id: int
    type: str
    user: str  # the seed's `user`: the author's email, or "system"
    created_at: dt.datetime
    text: str = ""
    author_id: int | None = None
    user_name: str | None = None
    client_msg_id: str | None = None
    reply_to: int | None = None
    user_email: str | None = None
    video_action: str | None = None
    video_name: str | None = None
    video_time: float | None = None
    video_id: int | None = None
    attachments: tuple[AttachmentRef, ...] = ()
    # The members the text mentions (resolved at send and edit: app/domain/notifications/mentions.py).
    mentions: tuple[int, ...] = ()


class StoredMessage(Draft, frozen=True, kw_only=True):
    """A Draft once stored: with its id and seq, and what changed since."""

    id: str
    seq: int
    edited_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = None
    reactions: dict[str, list[int]] = {}  # emoji -> user ids, in the order they reacted


class MessageStore(Protocol):
    async def append(self, drafts: Sequence[Draft]) -> list[tuple[StoredMessage, bool]]:
        """Store drafts of one group, in order, each with the group's next seq; one result per draft.
        A client_msg_id the same author already used in the group (or earlier in `drafts`) stores
        nothing: its result is (the existing message, False)."""
        ...

    async def get(self, group_id: int, seq: int) -> StoredMessage | None: ...

    async def window(
        self, group_id: int, *, before_seq: int | None = None, after_seq: int | None = None, limit: int
    ) -> list[StoredMessage]:
        """Ascending by seq. `after_seq`: the first `limit` after it (resume). Otherwise the last
        `limit` before `before_seq` (or before the end)."""
        ...

    async def newest_first(self, group_id: int, *, offset: int, limit: int) -> list[StoredMessage]:
        """The seed's offset pagination, newest first."""
        ...

    async def edit(
        self, group_id: int, seq: int, text: str, at: dt.datetime, mentions: Sequence[int] = ()
    ) -> StoredMessage | None:
        """Replace the text (and with it the mentions) of a live chat message; None when there is no
        such message."""
        ...

    async def tombstone(self, group_id: int, seq: int, at: dt.datetime) -> StoredMessage | None:
        """Blank a message (text, video, attachments, reactions) but keep its seq; None when there is
        no such live message."""
        ...

    async def react(
        self, group_id: int, seq: int, user_id: int, emoji: str, add: bool
    ) -> dict[str, list[int]] | None:
        """Add or remove one user's reaction; the message's reactions after it, None if no message."""
        ...

    async def latest(self, group_ids: Sequence[int]) -> dict[int, StoredMessage]:
        """The newest message of each group that has one."""
        ...

    async def deleted_after(self, positions: Mapping[int, int]) -> dict[int, int]:
        """Per group, how many deleted messages lie after the given seq (a read position): unread
        counts leave them out. Groups with none may be missing from the answer."""
        ...

    async def mention_counts(self, user_id: int, positions: Mapping[int, int]) -> dict[int, int]:
        """Per group, how many live messages after the given seq (a read position) mention the user.
        Groups with none may be missing from the answer."""
        ...

    async def mentioning(
        self, user_id: int, group_ids: Sequence[int], *, limit: int, offset: int
    ) -> list[StoredMessage]:
        """Live messages of the given groups that mention the user, newest first."""
        ...

    async def search(
        self, group_ids: Sequence[int], query: str, *, limit: int, offset: int
    ) -> list[StoredMessage]:
        """Full-text search over live chat messages of the given groups, newest first."""
        ...

    async def drop_group(self, group_id: int) -> None:
        """Remove every message of a deleted group."""
        ...

    async def forget_email(self, user_id: int, email: str, replacement: str) -> None:
        """A deleted account's email may be registered again: its messages (`user`) and the add/leave
        notices about it (`user_email`) name it by `replacement` from now on."""
        ...

    async def prepare(self) -> None:
        """Ready the backend at start-up (MongoDB: create indexes; SQL: migrations already did)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
