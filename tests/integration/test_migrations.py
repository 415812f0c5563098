"""Migrations: `upgrade head` on a fresh database matches the models exactly (no autogenerate drift)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import migrate
from app.db.models import metadata
from tests.services import postgres_database


def _compare(connection: Connection, compare_type: bool) -> list[object]:
    opts = {"compare_type": compare_type, "include_object": migrate.include_object}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, metadata))


async def _drift(url: str, compare_type: bool = True) -> list[object]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_compare, compare_type)
    finally:
        await engine.dispose()


def test_postgres_upgrade_head_has_no_drift() -> None:
    with postgres_database() as url:
        migrate.upgrade(url)
        assert asyncio.run(_drift(url)) == []


def test_sqlite_upgrade_head_has_no_drift(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'drift.db'}"
    migrate.upgrade(url)
    # SQLite reflects declared types by affinity (a GUID comes back as NUMERIC): compare structure.
    assert asyncio.run(_drift(url, compare_type=False)) == []
