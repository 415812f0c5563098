"""Socket syncs share identical store reads and run a bounded number at once (app/ws/reads.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from app.domain.messages.store import Draft, MessageStore, StoredMessage
from app.domain.runtime import Runtime
from app.ws.reads import SharedReads

pytestmark = pytest.mark.anyio


class CountingStore:
    """The real store, counting the reads that reach it and how many run at once."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self.gate = asyncio.Event()

    async def _track(self, read: Any) -> Any:
        self.calls += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.gate.wait()
            return await read
        finally:
            self.running -= 1

    async def window(self, group_id: int, *, after_seq: int | None = None, limit: int) -> list[StoredMessage]:
        result: list[StoredMessage] = await self._track(
            self.store.window(group_id, after_seq=after_seq, limit=limit)
        )
        return result

    async def latest(self, group_ids: Sequence[int]) -> dict[int, StoredMessage]:
        result: dict[int, StoredMessage] = await self._track(self.store.latest(group_ids))
        return result


async def _seed(runtime: Runtime, group: int, count: int) -> None:
    for index in range(count):
        draft = Draft(
            group_id=group,
            type="message",
            user="u@example.com",
            text=f"m{index}",
            created_at=dt.datetime.now(dt.UTC),
        )
        await runtime.messages.append([draft])


async def test_identical_reads_in_flight_share_one_query(
    runtime: Runtime, make_group: Callable[[], Any]
) -> None:
    group = await make_group()
    await _seed(runtime, group, 3)
    counting = CountingStore(runtime.messages)
    reads = SharedReads(counting, 4, runtime.attachment_signer)  # type: ignore[arg-type]
    since = reads.ticket()

    waiters = [asyncio.create_task(reads.after(group, 0, 100, since)) for _ in range(50)]
    latest = [asyncio.create_task(reads.latest_seq(group, since)) for _ in range(50)]
    await asyncio.sleep(0)
    counting.gate.set()
    results = await asyncio.gather(*waiters)
    seqs = await asyncio.gather(*latest)

    assert counting.calls == 2  # one window, one latest, for 100 callers
    assert all([m.text for m in r] == ["m0", "m1", "m2"] for r in results)
    assert set(seqs) == {3}


async def test_reads_run_at_most_slots_at_once(runtime: Runtime, make_group: Callable[[], Any]) -> None:
    group = await make_group()
    await _seed(runtime, group, 5)
    counting = CountingStore(runtime.messages)
    reads = SharedReads(counting, 2, runtime.attachment_signer)  # type: ignore[arg-type]

    distinct = [asyncio.create_task(reads.after(group, after, 10, reads.ticket())) for after in range(5)]
    for _ in range(20):  # let every task run up to the gate or the semaphore
        await asyncio.sleep(0)
    assert counting.running == 2  # the other three wait for a slot
    counting.gate.set()
    results = await asyncio.gather(*distinct)

    assert counting.calls == 5
    assert counting.most_at_once == 2
    assert [len(r) for r in results] == [5, 4, 3, 2, 1]


async def test_a_cancelled_caller_does_not_cancel_the_shared_read(
    runtime: Runtime, make_group: Callable[[], Any]
) -> None:
    group = await make_group()
    await _seed(runtime, group, 2)
    counting = CountingStore(runtime.messages)
    reads = SharedReads(counting, 1, runtime.attachment_signer)  # type: ignore[arg-type]
    since = reads.ticket()

    first = asyncio.create_task(reads.after(group, 0, 10, since))
    second = asyncio.create_task(reads.after(group, 0, 10, since))
    await asyncio.sleep(0)
    first.cancel()  # its socket closed mid-sync
    counting.gate.set()

    assert [m.text for m in await second] == ["m0", "m1"]
    with pytest.raises(asyncio.CancelledError):
        await first
    assert counting.calls == 1


async def test_a_read_that_began_before_a_socket_was_listening_is_not_shared_with_it(
    runtime: Runtime, make_group: Callable[[], Any]
) -> None:
    """Such a read can miss a message published before the socket listened, forever."""
    group = await make_group()
    await _seed(runtime, group, 1)
    counting = CountingStore(runtime.messages)
    reads = SharedReads(counting, 1, runtime.attachment_signer)  # type: ignore[arg-type]

    early = asyncio.create_task(reads.after(group, 0, 10, reads.ticket()))
    for _ in range(20):  # the early read takes the slot and begins its query
        await asyncio.sleep(0)
    await _seed(runtime, group, 1)  # published before the late socket listened
    late_since = reads.ticket()  # the late socket listens from here
    late = asyncio.create_task(reads.after(group, 0, 10, late_since))
    queued = asyncio.create_task(reads.after(group, 0, 10, late_since))  # joins the late read
    for _ in range(20):
        await asyncio.sleep(0)
    counting.gate.set()

    assert [m.text for m in await early] in (["m0"], ["m0", "m0"])
    assert [m.text for m in await late] == ["m0", "m0"]
    assert await queued is await late
    assert counting.calls == 2


async def test_sockets_replaying_one_read_share_its_frames_except_per_viewer_reactions(
    runtime: Runtime, make_group: Callable[[], Any], make_user: Callable[[], Any]
) -> None:
    group, reactor = await make_group(), await make_user()
    await _seed(runtime, group, 2)
    await runtime.messages.react(group, 2, reactor, "👍", add=True)
    reads = SharedReads(runtime.messages, 2, runtime.attachment_signer)
    plain, liked = await reads.after(group, 0, 10, reads.ticket())

    assert reads.text(plain, 1) is reads.text(plain, 2)  # encoded once, sent to every socket
    assert json.loads(reads.text(plain, 1))["text"] == "m0"
    mine, theirs = json.loads(reads.text(liked, reactor)), json.loads(reads.text(liked, reactor + 1))
    assert mine["reactions"][0]["me"] is True
    assert theirs["reactions"][0]["me"] is False
