"""The SQL message store's tables: messages, per-group sequence counters, reactions.

Only `app.domain.messages.sql_store` touches these; everything else goes through the MessageStore port.
Full-text search (a PostgreSQL GIN index, an SQLite FTS5 table) is created by the migration, not here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from advanced_alchemy.base import DefaultBase, IdentityBase
from advanced_alchemy.types import BigIntIdentity, DateTimeUTC
from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.accounts import EMAIL_MAX, NAME_MAX


class MessageRow(IdentityBase):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("group_id", "seq", name="uq_messages_group_seq"),
        # Idempotent sends: one message per (group, author, client id). NULL ids never collide.
        Index("uq_messages_client_msg_id", "group_id", "author_id", "client_msg_id", unique=True),
        # Deleted messages only, for unread counts that leave them out (few rows, never live history).
        Index(
            "ix_messages_deleted",
            "group_id",
            "seq",
            postgresql_where=text("deleted_at IS NOT NULL"),
            sqlite_where=text("deleted_at IS NOT NULL"),
        ),
        {"sqlite_autoincrement": True},  # never reuse a deleted message's id (SQLite; FTS rowids too)
    )

    group_id: Mapped[int] = mapped_column(BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[int | None] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    user: Mapped[str] = mapped_column(String(EMAIL_MAX))  # the seed's `user`: author email, or "system"
    user_name: Mapped[str | None] = mapped_column(String(NAME_MAX), default=None)
    text: Mapped[str] = mapped_column(Text, default="")
    client_msg_id: Mapped[str | None] = mapped_column(String(64), default=None)
    reply_to: Mapped[int | None] = mapped_column(BigInteger, default=None)
    user_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX), default=None)  # subject of add/leave
    video_action: Mapped[str | None] = mapped_column(String(16), default=None)
    video_name: Mapped[str | None] = mapped_column(String(255), default=None)
    video_time: Mapped[float | None] = mapped_column(Float, default=None)
    video_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # What the message shows of its attachments (a snapshot: attachments never change once uploaded).
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True), default=None)
    # The user ids the text mentions, as shown (MentionRow indexes them for counts and the Mentions view).
    mentions: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    edited_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class GroupSequence(DefaultBase):
    """The last seq handed out per group: bumped in the same transaction as the insert, so seqs are
    strictly increasing and gap-free (a rolled-back insert rolls its seq back too)."""

    __tablename__ = "group_sequences"

    group_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class ReactionRow(DefaultBase):
    __tablename__ = "message_reactions"

    group_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    emoji: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=lambda: dt.datetime.now(dt.UTC)
    )


class MentionRow(DefaultBase):
    """One user mentioned by one live message: unread mention counts and the Mentions view read these
    (the primary key leads with the user), never the messages' JSON."""

    __tablename__ = "message_mentions"

    user_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        BigIntIdentity, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
