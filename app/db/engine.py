"""SQLAlchemy engine and session configuration for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from advanced_alchemy.extensions.litestar import AsyncSessionConfig, EngineConfig, SQLAlchemyAsyncConfig
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.config import Settings
from app.db.folding import register_sqlite


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL lets readers run beside the single writer; busy_timeout queues writers instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    register_sqlite(dbapi_connection)  # people search's name folding


def _discard_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # Instead of the pool's pre-ping, which costs three round trips per checkout (BEGIN, a query,
    # ROLLBACK): a connection the server closed (a restart, an idle kill) is already known to asyncpg
    # as closed, and the pool replaces it with a fresh one.
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


# SQLSTATEs in which PostgreSQL says "not now" rather than "not this statement": classes 08 connection
# exceptions, 53 insufficient resources (too many connections, out of memory, disk full) and 57P
# operator intervention (shutting down, starting up); 25006, a write in a read-only transaction (a
# standby reached after a failover, a database put read-only for maintenance); 57014 and 55P03, the
# server's statement_timeout or lock_timeout giving up (a migration holding a lock), as the app's own
# command timeout does.
_UNAVAILABLE_STATES = ("08", "53", "57P", "25006", "57014", "55P03")


def _unavailable_as_operational(context: ExceptionContext) -> BaseException | None:
    # asyncpg's errors reach SQLAlchemy as plain DBAPIErrors, so "too many connections" was a 500 and a
    # refused socket handshake; as an OperationalError it is a dependency down, like a refused
    # connection (a 503, or a socket closed with 1013: app/errors.py DEPENDENCY_DOWN).
    error = context.sqlalchemy_exception
    state = getattr(context.original_exception, "sqlstate", None) or ""
    if type(error) is DBAPIError and state.startswith(_UNAVAILABLE_STATES):
        return OperationalError(
            error.statement,
            error.params,
            context.original_exception,
            connection_invalidated=error.connection_invalidated,
        )
    return None


def create_engine(settings: Settings) -> AsyncEngine:
    # hide_parameters on both: a failed statement's exception text would carry its values (emails,
    # message texts, password hashes) into the error log.
    url = settings.sqlalchemy_url
    if settings.is_sqlite:
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            settings.var_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 10}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        # Sized for steady load: a connection opened per request (overflow) costs more than the query.
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=5,  # fail fast with 503 instead of queueing requests behind a dead database
        connect_args={"timeout": 5, "command_timeout": 30},
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "checkout", _discard_if_closed)
    event.listen(engine.sync_engine, "handle_error", _unavailable_as_operational, retval=True)
    return engine


@asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection outside any transaction: each statement commits on its own, so a hot path
    of single statements pays no BEGIN/COMMIT round trips (and no ORM session)."""
    async with engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


def sqlalchemy_config(engine: AsyncEngine) -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        engine_config=EngineConfig(),
        set_default_exception_handler=False,
        create_all=False,
    )
