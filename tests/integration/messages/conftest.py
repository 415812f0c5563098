"""Every message-store adapter. A module whose `backend` fixture takes BACKENDS runs on "mongodb" too
(the app's SQL database on SQLite, messages in MongoDB over the wire: SecantusDB, or MONGODB_URL) beside
SQLite and PostgreSQL. The store contract and the messages API tests
run on all three; the group-commit and catch-up tests, which count SQL writes, on the SQL stores."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from pymongo import MongoClient

from app.config import Settings
from app.db.models.accounts import User
from app.db.models.groups import Group
from app.domain.messages.store import MessageStore
from app.domain.runtime import Runtime
from app.server.runtime import build_runtime

BACKENDS = ["sqlite", "postgres", "mongodb"]


@pytest.fixture
def store_kind(backend: str) -> str:
    return "mongodb" if backend == "mongodb" else "sql"


@pytest.fixture
def mongodb_database(backend: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, str] | None]:
    """(url, database name) of a database for this test alone, dropped afterwards; None on SQL."""
    if backend != "mongodb":
        yield None
        return
    url = request.getfixturevalue("mongodb_url")
    name = f"huddle_test_{uuid.uuid4().hex[:8]}"
    yield url, name
    with MongoClient(url, serverSelectionTimeoutMS=3000) as client:
        client.drop_database(name)


@pytest.fixture
def make_settings(
    make_settings: Callable[..., Settings], mongodb_database: tuple[str, str] | None
) -> Callable[..., Settings]:
    if mongodb_database is None:
        return make_settings
    url, name = mongodb_database

    def build(**overrides: Any) -> Settings:
        return make_settings(**({"mongodb_url": url, "database_name": name} | overrides))

    return build


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings)
    yield runtime
    await runtime.close()


@pytest.fixture
async def store(runtime: Runtime) -> MessageStore:
    await runtime.messages.prepare()  # MongoDB: the indexes (SQL: the migrations did it)
    return runtime.messages


@pytest.fixture
def make_group(runtime: Runtime) -> Callable[[], Any]:
    """A real group row (the SQL store's foreign keys need one; MongoDB ignores it)."""

    async def create() -> int:
        async with runtime.sessions() as db:
            group = Group(name=f"store-{uuid.uuid4().hex[:6]}")
            db.add(group)
            await db.commit()
            return group.id

    return create


@pytest.fixture
def make_user(runtime: Runtime) -> Callable[[], Any]:
    async def create() -> int:
        async with runtime.sessions() as db:
            user = User(email=f"{uuid.uuid4().hex}@example.com", name="Store User", password_hash="unused")
            db.add(user)
            await db.commit()
            return user.id

    return create
