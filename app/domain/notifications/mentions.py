"""Mentions: `@Name` of a member (display name or account name), `@all` / `@here` for everyone.

Resolved once, when a message is sent or edited, into the user ids the message stores (`mentions`);
the text is kept as written. A name is matched case-insensitively (Unicode case folding, NFC), the
longest member name that starts right after the `@` wins, and it must end at a word boundary, so
`@Zoë,` and `@Anna Maria!` mention, while `mail@example.com` and `@Annabel` (no such member) do not.
An `@` that names no member is plain text. `@all` and `@here` mention every other member; in groups
larger than MENTION_ALL_LIMIT only admins may use them (from anyone else they are plain text).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models.accounts import User
from app.db.models.groups import ROLE_ADMIN, Membership

BROADCASTS = ("all", "here")


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    names: tuple[str, ...]  # display name and account name
    admin: bool = False


def _key(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _word(char: str) -> bool:
    return char.isalnum() or char == "_" or unicodedata.category(char).startswith("M")


class MentionIndex:
    """A group's members by folded name, for matching a text's `@`s."""

    def __init__(self, members: Iterable[Member]) -> None:
        self.members = list(members)
        self._names: dict[str, list[int]] = {}
        for member in self.members:
            for name in dict.fromkeys(_key(n.strip()) for n in member.names if n and n.strip()):
                self._names.setdefault(name, []).append(member.user_id)
        # Longest first: `@Anna Maria` prefers the member "Anna Maria" over "Anna".
        self._ordered = sorted(self._names, key=len, reverse=True)

    def resolve(self, text: str, author_id: int | None, *, broadcast: bool) -> tuple[int, ...]:
        """The user ids `text` mentions, in order of first mention. `broadcast`: whether @all and
        @here count (they mention every member but the author)."""
        folded = _key(text)
        found: dict[int, None] = {}
        start = folded.find("@")
        while start != -1:
            if start == 0 or not (_word(folded[start - 1]) or folded[start - 1] == "@"):
                rest = folded[start + 1 :]
                ids = self._match(rest)
                if ids:
                    found.update(dict.fromkeys(ids))
                elif broadcast and any(_bounded(rest, word) for word in BROADCASTS):
                    found.update(dict.fromkeys(m.user_id for m in self.members if m.user_id != author_id))
            start = folded.find("@", start + 1)
        return tuple(found)

    def _match(self, rest: str) -> list[int]:
        for name in self._ordered:
            if _bounded(rest, name):
                return self._names[name]
        return []


def _bounded(rest: str, name: str) -> bool:
    """`rest` starts with `name`, and the name ends there (not inside a longer word)."""
    return rest.startswith(name) and (len(rest) == len(name) or not _word(rest[len(name)]))


def may_broadcast(members: Sequence[Member], author_id: int, limit: int) -> bool:
    """@all/@here: anyone in a group of at most `limit` members, only admins in a larger one."""
    if len(members) <= limit:
        return True
    return any(m.user_id == author_id and m.admin for m in members)


async def group_members(db: AsyncSession, group_id: int) -> list[Member]:
    rows = await db.execute(
        select(User.id, User.display_name, User.name, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.group_id == group_id)
    )
    return [
        Member(user_id=user_id, names=tuple(n for n in (display, name) if n), admin=role == ROLE_ADMIN)
        for user_id, display, name, role in rows
    ]


async def resolve_mentions(
    db: AsyncSession, group_id: int, author_id: int, text: str | None, *, all_limit: int
) -> tuple[int, ...]:
    """The members a message to `group_id` mentions (nothing without an `@`: no query then)."""
    if not text or "@" not in text:
        return ()
    members = await group_members(db, group_id)
    if not any(m.user_id == author_id for m in members):
        return ()  # not a member: the send is refused anyway, and learns nothing from this
    index = MentionIndex(members)
    return index.resolve(text, author_id, broadcast=may_broadcast(members, author_id, all_limit))
