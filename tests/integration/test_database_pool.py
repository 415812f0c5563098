"""The PostgreSQL pool: a connection the server closed (a restart, an idle kill) is replaced when it is
next checked out, so the query that follows does not fail; and a checkout asks the server nothing."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import event, text

from app.config import Settings
from app.db.engine import create_engine
from tests.conftest import SECRET
from tests.helpers import eventually
from tests.services import ADMIN_URL

pytestmark = pytest.mark.anyio


def _engine(postgres_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings(
        secret_key=SECRET,
        database_url=postgres_url,
        database_pool_size=1,
        database_max_overflow=0,
        var_dir=tmp_path,
    )
    return create_engine(settings)


async def test_a_connection_the_server_closed_is_replaced_at_checkout(
    postgres_url: str, tmp_path: Path
) -> None:
    engine = _engine(postgres_url, tmp_path)
    try:
        async with engine.connect() as connection:
            first = await connection.scalar(text("SELECT pg_backend_pid()"))
            driver = (await connection.get_raw_connection()).driver_connection
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        await eventually(driver.is_closed)  # the pooled connection has seen the server hang up

        async with engine.connect() as connection:
            second = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        await engine.dispose()


async def test_a_checkout_sends_no_statement(postgres_url: str, tmp_path: Path) -> None:
    """The pool's pre-ping would send BEGIN, `;` and ROLLBACK on every checkout. Logged: SQLAlchemy's
    statements, and what asyncpg runs outside prepared statements (transaction control, the ping)."""
    engine = _engine(postgres_url, tmp_path)
    sent: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    try:
        async with engine.connect() as connection:
            await connection.scalar(text("SELECT 1"))
            driver = (await connection.get_raw_connection()).driver_connection
            driver.add_query_logger(lambda record: sent.append(record.query))
        sent.clear()
        async with engine.connect() as connection:
            await connection.scalar(text("SELECT 2"))
        assert sorted(sent) == ["BEGIN;", "ROLLBACK;", "SELECT 2"]  # the statement in its transaction
    finally:
        await engine.dispose()
