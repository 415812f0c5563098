"""The store reads behind socket syncs, shared and bounded per worker.

A thousand sockets that connect at once, or that all see the same gap in a group's live frames, ask the
store the same question at the same moment. Identical reads in flight share one query, and at most
`slots` queries run at a time, so a connect storm waits in a short queue instead of exhausting the
database pool (which would fail the syncs, close the sockets and bring the clients straight back).

A socket may only share a read that started after it began receiving the group's live frames (its
`since` ticket): an older read can miss a message that was published before the socket was listening,
and nothing would ever tell the socket about it.

Replays share frames too: a message's frame depends on the viewer only through the `me` flag of its
reactions, so one without reactions is encoded once per worker, not once per socket, and a thousand
sockets replaying the same latest messages hold one copy of each.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from app.domain.messages.frames import to_frame
from app.domain.messages.store import MessageStore, StoredMessage
from app.domain.shared.signing import AttachmentSigner

SHARED_TEXTS = 4096  # encoded frames of recently replayed messages kept per worker
_encoder = msgspec.json.Encoder()

T = TypeVar("T")


class _Read:
    """A read in flight; `started` is the ticket taken as its query began (None while it waits)."""

    __slots__ = ("started", "task")
    task: asyncio.Task[Any]  # set right after construction: the task's coroutine needs this object

    def __init__(self) -> None:
        self.started: int | None = None

    def joinable(self, since: int) -> bool:
        return self.started is None or self.started > since


class SharedReads:
    def __init__(self, store: MessageStore, slots: int, signer: AttachmentSigner) -> None:
        self._store = store
        self._signer = signer
        self._texts: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._slots = asyncio.Semaphore(slots)
        self._inflight: dict[tuple[Any, ...], _Read] = {}
        self._tickets = itertools.count()

    def text(self, message: StoredMessage, viewer_id: int) -> str:
        """The frame of a message returned by `after`, encoded once per worker for every socket that
        replays it, keyed by what changes the frame (an edit, a delete, attachment URLs' expiry)."""
        if message.reactions:  # `me` differs per viewer
            return _encoder.encode(to_frame(message, viewer_id, signer=self._signer)).decode()
        expiry = self._signer.expiry() if message.attachments else 0
        key = (message.id, message.edited_at, message.deleted_at, expiry)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = _encoder.encode(to_frame(message, signer=self._signer)).decode()
            if len(self._texts) > SHARED_TEXTS:
                self._texts.popitem(last=False)
        return text

    def ticket(self) -> int:
        """Take one once the socket receives the group's live frames; pass it to the reads."""
        return next(self._tickets)

    async def latest_seq(self, group_id: int, since: int) -> int:
        async def read() -> int:
            latest = (await self._store.latest([group_id])).get(group_id)
            return latest.seq if latest else 0

        return await self._shared(("latest", group_id), since, read)

    async def after(self, group_id: int, after_seq: int, limit: int, since: int) -> list[StoredMessage]:
        """Up to `limit` messages after `after_seq`, ascending (callers must not mutate the list)."""
        return await self._shared(
            ("after", group_id, after_seq, limit),
            since,
            lambda: self._store.window(group_id, after_seq=after_seq, limit=limit),
        )

    async def _shared(self, key: tuple[Any, ...], since: int, read: Callable[[], Awaitable[T]]) -> T:
        shared = self._inflight.get(key)
        if shared is None or not shared.joinable(since):
            shared = self._inflight[key] = _Read()
            shared.task = asyncio.get_running_loop().create_task(self._bounded(shared, read))
            shared.task.add_done_callback(lambda _: self._forget(key, shared))
        # A waiter that is cancelled (its socket closed) must not cancel the read the others share.
        result: T = await asyncio.shield(shared.task)
        return result

    def _forget(self, key: tuple[Any, ...], shared: _Read) -> None:
        if self._inflight.get(key) is shared:  # a newer read may have taken the key
            del self._inflight[key]

    async def _bounded(self, shared: _Read, read: Callable[[], Awaitable[T]]) -> T:
        async with self._slots:
            shared.started = next(self._tickets)
            return await read()
