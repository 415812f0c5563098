"""Every available message-store adapter, on a group that exists in the SQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.config import Settings
from app.db.models.accounts import User
from app.db.models.groups import Group
from app.domain.messages.store import MessageStore
from app.runtime import Runtime, build_runtime

STORES = ["sql"] + (["mongodb"] if os.environ.get("MONGODB_URL") else [])


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings)
    yield runtime
    await runtime.close()


@pytest.fixture
async def store(store_kind: str, runtime: Runtime) -> AsyncIterator[MessageStore]:
    if store_kind == "sql":
        yield runtime.messages
        return
    from app.domain.messages.mongo_store import MongoMessageStore  # noqa: PLC0415 -- only with MONGODB_URL

    mongo = MongoMessageStore(os.environ["MONGODB_URL"], f"huddle_test_{uuid.uuid4().hex[:8]}")
    await mongo.prepare()
    yield mongo
    await mongo.drop_database()
    await mongo.close()


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
