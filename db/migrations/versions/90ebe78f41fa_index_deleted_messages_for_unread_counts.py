"""index deleted messages for unread counts

Unread counts leave deleted messages out (a message deleted before it was read is not unread,
issue 34): a partial index of deleted rows only lets the count skip live history. Both PostgreSQL
and SQLite support partial indexes.

Revision ID: 90ebe78f41fa
Revises: 916b7c259899
Create Date: 2026-12-04 21:55:10.886736
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '90ebe78f41fa'
down_revision: str | None = '916b7c259899'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELETED = sa.text("deleted_at IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_messages_deleted", "messages", ["group_id", "seq"], postgresql_where=DELETED, sqlite_where=DELETED
    )


def downgrade() -> None:
    op.drop_index("ix_messages_deleted", table_name="messages")
