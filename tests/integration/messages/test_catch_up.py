"""A message whose publish never arrived still reaches a following socket: the upkeep check compares
the store with each socket's position and replays the rest."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from app.db.models.accounts import User
from app.domain.accounts.services import Principal
from app.domain.messages.store import Draft
from app.runtime import Runtime
from app.ws.connection import Connection
from app.ws.presence import MemoryPresence
from app.ws.registry import Registry

pytestmark = pytest.mark.anyio


async def test_a_lost_publish_is_caught_up(
    runtime: Runtime, make_group: Callable[[], Any], make_user: Callable[[], Any]
) -> None:
    group, user_id = await make_group(), await make_user()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(json.loads(message["text"]))

    user = User(id=user_id, email=f"{uuid.uuid4().hex}@example.com", name="U", password_hash="-")
    connection = Connection(
        send,
        Principal(user, uuid.uuid4()),
        runtime.messages,
        queue_size=64,
        on_left=lambda *_: None,
        initial_messages=10,
        resume_limit=100,
        follows_all=False,
    )
    connection.writer = asyncio.get_running_loop().create_task(connection.run_writer())
    registry = Registry(runtime.broker, MemoryPresence(), runtime.events)
    await registry.start()
    await registry.add(connection)
    await registry.follow(connection, group, 0)
    await asyncio.sleep(0.1)
    assert not connection.feeds[group].syncing

    def draft(text: str) -> Draft:
        return Draft(
            group_id=group,
            type="message",
            user="u@example.com",
            text=text,
            created_at=dt.datetime.now(dt.UTC),
        )

    stored, _ = await runtime.messages.append(draft("committed, never published"))
    await asyncio.sleep(0.1)
    messages = [f for f in sent if f["type"] == "message"]
    assert messages == []  # nothing told the socket

    assert registry.catch_up({group: stored.seq}) == 1
    await asyncio.sleep(0.2)
    messages = [f for f in sent if f["type"] == "message"]
    assert [(f["seq"], f["text"]) for f in messages] == [(stored.seq, "committed, never published")]
    assert registry.catch_up({group: stored.seq}) == 0  # up to date: nothing more to do
    connection.close(1000)
    await registry.remove(connection)
    connection.stop_feeds()
