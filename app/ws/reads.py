"""The store reads behind socket syncs, shared and bounded per worker.

A thousand sockets that connect at once, or that all see the same gap in a group's live frames, ask the
store the same question at the same moment. Identical reads in flight share one query, and at most
`slots` queries run at a time, so a connect storm waits in a short queue instead of exhausting the
database pool (which would fail the syncs, close the sockets and bring the clients straight back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from app.domain.messages.store import MessageStore, StoredMessage

T = TypeVar("T")


class SharedReads:
    def __init__(self, store: MessageStore, slots: int) -> None:
        self._store = store
        self._slots = asyncio.Semaphore(slots)
        self._inflight: dict[tuple[Any, ...], asyncio.Task[Any]] = {}

    async def latest_seq(self, group_id: int) -> int:
        async def read() -> int:
            latest = (await self._store.latest([group_id])).get(group_id)
            return latest.seq if latest else 0

        return await self._shared(("latest", group_id), read)

    async def after(self, group_id: int, after_seq: int, limit: int) -> list[StoredMessage]:
        """Up to `limit` messages after `after_seq`, ascending (callers must not mutate the list)."""
        return await self._shared(
            ("after", group_id, after_seq, limit),
            lambda: self._store.window(group_id, after_seq=after_seq, limit=limit),
        )

    async def _shared(self, key: tuple[Any, ...], read: Callable[[], Awaitable[T]]) -> T:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._bounded(read))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        # A waiter that is cancelled (its socket closed) must not cancel the read the others share.
        result: T = await asyncio.shield(task)
        return result

    async def _bounded(self, read: Callable[[], Awaitable[T]]) -> T:
        async with self._slots:
            return await read()
