"""never reuse ids on sqlite

SQLite hands the highest id out again once its row is deleted (an INTEGER PRIMARY KEY without
AUTOINCREMENT), so a signed attachment link could serve the next upload, and a new group could find
a deleted group's playback state (security review, issue 22). Every table with an integer id is
rebuilt with AUTOINCREMENT: ids only ever grow (sqlite_sequence remembers the highest one handed out).
PostgreSQL identities never reuse a value: nothing to do there.

Ids freed before this upgrade above the highest remaining one can still be handed out once; signed
links are bound to the blob key anyway, and in-process playback state does not survive the restart.

Revision ID: 916b7c259899
Revises: c9a1d0e5f7b2
Create Date: 2026-12-04 19:15:45.766635
"""

from collections.abc import Sequence

from alembic import op

revision: str = '916b7c259899'
down_revision: str | None = 'c9a1d0e5f7b2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table rows can be deleted from that has an integer id (users are deactivated, not deleted,
# but an operator may delete one, and tokens and stream links name users by id).
TABLES = ("users", "groups", "messages", "videos", "video_jobs", "attachments")

# The SQLite full-text triggers live on `messages` and go with it when it is rebuilt (9b59f91d4fdb).
# The FTS5 index itself keeps its rows: it is keyed by message id, and ids are copied unchanged.
FTS_TRIGGERS = (
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
)


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # Rebuilding drops each table; with foreign keys on, that would cascade into its children.
    # The migration engine never turns them on (db/migrations/env.py): make sure of it.
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("run this migration with PRAGMA foreign_keys=OFF")
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
    for trigger in FTS_TRIGGERS:
        op.execute(trigger)


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
