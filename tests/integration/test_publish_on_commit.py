"""Publish on commit (app/domain/uow.py) on a real PostgreSQL transaction: what a rolled-back or failed
transaction queued is never published; what a committed one queued goes out after the commit, in order."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.domain.grants import Grants
from app.domain.uow import UnitOfWork
from tests.services import postgres_database


class Note(msgspec.Struct, tag_field="type", tag="note"):
    n: int


class Recorder:
    """An `Events` that records what it is asked to publish."""

    def __init__(self) -> None:
        self.grants = Grants()
        self.published: list[tuple[str, int, object]] = []

    async def to_group(self, group_id: int, *events: msgspec.Struct) -> None:
        self.published.append(("group", group_id, events))

    async def to_user(self, user_id: int, event: msgspec.Struct) -> None:
        self.published.append(("user", user_id, event))

    async def access_changed(self) -> None:
        self.published.append(("access", 0, None))


async def _scenario(url: str) -> None:
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    events = Recorder()
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("CREATE TABLE notes (n int, UNIQUE (n) DEFERRABLE INITIALLY DEFERRED)")
            )

        async def committed() -> list[int]:
            async with sessions() as db:
                return list(await db.scalars(text("SELECT n FROM notes ORDER BY n")))

        # Rolled back: nothing published, now or at the next commit on the same session.
        async with sessions() as db:
            uow = UnitOfWork(db, events)
            await db.execute(text("INSERT INTO notes VALUES (1)"))
            uow.to_group(7, Note(n=1))
            uow.to_user(3, Note(n=1))
            uow.access_changed()
            await db.rollback()
            assert events.published == []
            await UnitOfWork(db, events).commit()
            assert events.published == []
        assert await committed() == []

        # A commit that fails (the deferred constraint fires at COMMIT): nothing published.
        async with sessions() as db:
            await db.execute(text("INSERT INTO notes VALUES (2)"))
            await db.commit()
        async with AsyncSession(engine) as db:
            uow = UnitOfWork(db, events)
            await db.execute(text("INSERT INTO notes VALUES (2)"))
            uow.to_group(7, Note(n=2))
            with pytest.raises(IntegrityError):
                await uow.commit()
            assert events.published == []

        # Committed: published after the commit, in the order queued, once.
        async with sessions() as db:
            uow = UnitOfWork(db, events)
            await db.execute(text("INSERT INTO notes VALUES (3)"))
            uow.to_group(7, Note(n=3))
            uow.to_user(3, Note(n=3))
            assert events.published == []  # queued, not sent
            await uow.commit()
            assert events.published == [("group", 7, (Note(n=3),)), ("user", 3, Note(n=3))]
            await uow.commit()
            assert len(events.published) == 2
        assert await committed() == [2, 3]
    finally:
        await engine.dispose()


def test_a_rolled_back_transaction_publishes_nothing() -> None:
    with postgres_database() as url:
        asyncio.run(_scenario(url))
