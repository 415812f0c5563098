"""Publish on commit: events queued on a session go out only after its transaction commits.

As Zulip's `send_event_on_commit`: a service queues what a write announces (`uow.to_group(...)`) and
calls `await uow.commit()`, which commits and then publishes the queue in order. A rollback, or a
commit that fails, drops the queue, so a change that never happened is never announced. The queue
lives on the session (`Session.info`), so every service sharing a request's session shares it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.domain.events import Events

Publish = Callable[[], Awaitable[None]]
_QUEUE = "huddle.publish_on_commit"


def _queue(session: Session) -> list[Publish]:
    queue: list[Publish] | None = session.info.get(_QUEUE)
    if queue is None:
        queue = session.info[_QUEUE] = []
        event.listen(session, "after_rollback", _drop)
    return queue


def _drop(session: Session, *_: Any) -> None:
    session.info.get(_QUEUE, []).clear()


class UnitOfWork:
    """A session's transaction and the events it announces: queued by `to_group`/`to_user`, sent by
    `commit` once the transaction is durable."""

    def __init__(self, db: AsyncSession, events: Events) -> None:
        self.db = db
        self._events = events

    def _add(self, publish: Publish) -> None:
        # The queue and its rollback hook are made by the first event: most requests (a video
        # stream's authorization, every read) announce nothing and pay nothing.
        _queue(self.db.sync_session).append(publish)

    def to_group(self, group_id: int, *frames: msgspec.Struct) -> None:
        self._add(partial(self._events.to_group, group_id, *frames))

    def to_user(self, user_id: int, frame: msgspec.Struct) -> None:
        self._add(partial(self._events.to_user, user_id, frame))

    def access_changed(self) -> None:
        self._add(self._events.access_changed)

    async def commit(self) -> None:
        queue: list[Publish] = self.db.sync_session.info.get(_QUEUE, [])
        try:
            await self.db.commit()
        except BaseException:
            queue.clear()
            raise
        queued = list(queue)
        queue.clear()
        for publish in queued:
            await publish()

    async def rollback(self) -> None:
        await self.db.rollback()  # the session's after_rollback hook drops the queue
