"""The one switch between PostgreSQL and SQLite SQL: the INSERT with ON CONFLICT for a database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


def is_postgres(db: AsyncSession | AsyncConnection) -> bool:
    bind = db.get_bind() if isinstance(db, AsyncSession) else db
    return bind.dialect.name == "postgresql"


def insert_for(db: AsyncSession | AsyncConnection) -> Callable[..., Any]:
    """`insert` of the database behind `db` (PostgreSQL's or SQLite's), for `.on_conflict_do_nothing()`."""
    return postgresql.insert if is_postgres(db) else sqlite.insert
