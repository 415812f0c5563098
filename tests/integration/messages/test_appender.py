"""Group commit (app/domain/messages/appender.py): messages submitted while a write is in flight are
written together, in submission order; non-members are refused one by one; each is published after
its commit; a member has read what they wrote."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from sqlalchemy import event, select

from app.broker import group_channel
from app.db.models.groups import Membership
from app.domain.messages.store import Draft
from app.domain.runtime import Runtime
from app.errors import NotFound
from app.ws.envelope import unpack

pytestmark = pytest.mark.anyio


def draft(group_id: int, author: int, text: str) -> Draft:
    return Draft(
        group_id=group_id,
        type="message",
        user=f"{author}@example.com",
        author_id=author,
        text=text,
        created_at=dt.datetime.now(dt.UTC),
    )


@pytest.fixture
def group_with(runtime: Runtime, make_group: Callable[[], Any]) -> Callable[..., Any]:
    async def create(*members: int) -> int:
        group: int = await make_group()
        async with runtime.sessions() as db:
            db.add_all(Membership(group_id=group, user_id=user) for user in members)
            await db.commit()
        return group

    return create


@pytest.fixture
def writes(runtime: Runtime) -> Iterator[list[str]]:
    """The seq reservations the real engine sends: one per write of messages (on PostgreSQL inside the
    statement that inserts them)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "INSERT INTO GROUP_SEQUENCES" in statement.upper():
            seen.append(statement)

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
async def published(runtime: Runtime) -> Callable[[int], Any]:
    """Subscribe to a group's channel; returns the seqs published to it, in the order received."""
    received: dict[str, list[int]] = {}

    def handler(channel: str, payload: bytes) -> None:
        received.setdefault(channel, []).append(unpack(payload)[0])

    await runtime.broker.start(handler)

    async def listen(group_id: int) -> list[int]:
        channel = group_channel(group_id)
        await runtime.broker.subscribe(channel)
        return received.setdefault(channel, [])

    return listen


async def arrived(seqs: list[int], count: int) -> None:
    async with asyncio.timeout(5):
        while len(seqs) < count:
            await asyncio.sleep(0.01)


async def test_messages_submitted_together_are_written_in_one_transaction_in_order(
    runtime: Runtime, group_with: Callable[..., Any], make_user: Callable[[], Any], writes: list[str]
) -> None:
    ann, bob = await make_user(), await make_user()
    group = await group_with(ann, bob)
    submitted = [
        runtime.appender.submit(draft(group, ann if i % 2 else bob, f"m{i}"), by_member=True)
        for i in range(40)
    ]
    results = await asyncio.gather(*submitted)
    assert [(m.seq, m.text, created) for m, created in results] == [(i + 1, f"m{i}", True) for i in range(40)]
    assert len(writes) == 1  # one transaction for the lot
    stored = await runtime.messages.window(group, after_seq=0, limit=100)
    assert [m.text for m in stored] == [f"m{i}" for i in range(40)]


async def test_messages_arriving_during_a_write_go_together_into_the_next(
    runtime: Runtime, group_with: Callable[..., Any], make_user: Callable[[], Any], writes: list[str]
) -> None:
    ann = await make_user()
    group = await group_with(ann)
    first = runtime.appender.submit(draft(group, ann, "first"), by_member=True)
    await asyncio.sleep(0)  # the first write has started
    later = [runtime.appender.submit(draft(group, ann, f"later {i}"), by_member=True) for i in range(10)]
    results = await asyncio.gather(first, *later)
    assert [m.seq for m, _ in results] == list(range(1, 12))
    assert len(writes) == 2


async def test_a_non_member_is_refused_and_the_rest_is_stored_without_a_gap(
    runtime: Runtime, group_with: Callable[..., Any], make_user: Callable[[], Any]
) -> None:
    ann, mallory = await make_user(), await make_user()
    group = await group_with(ann)
    results = await asyncio.gather(
        runtime.appender.submit(draft(group, ann, "one"), by_member=True),
        runtime.appender.submit(draft(group, mallory, "intruder"), by_member=True),
        runtime.appender.submit(draft(group, ann, "two"), by_member=True),
        return_exceptions=True,
    )
    assert isinstance(results[1], NotFound)
    assert [(m.seq, m.text) for m, _ in (results[0], results[2])] == [(1, "one"), (2, "two")]  # type: ignore[misc]
    assert [m.text for m in await runtime.messages.window(group, after_seq=0, limit=10)] == ["one", "two"]


async def test_system_messages_need_no_membership(
    runtime: Runtime, group_with: Callable[..., Any], make_user: Callable[[], Any]
) -> None:
    gone = await make_user()
    group = await group_with()
    message, created = await runtime.appender.append(draft(group, gone, "gone left"), by_member=False)
    assert (message.seq, created) == (1, True)


async def test_a_busy_group_is_published_in_seq_order(
    runtime: Runtime,
    group_with: Callable[..., Any],
    make_user: Callable[[], Any],
    published: Callable[[int], Any],
) -> None:
    ann = await make_user()
    group = await group_with(ann)
    seqs: list[int] = await published(group)
    first = runtime.appender.submit(draft(group, ann, "first"), by_member=True)
    await asyncio.sleep(0)
    rest = [runtime.appender.submit(draft(group, ann, f"m{i}"), by_member=True) for i in range(20)]
    await asyncio.gather(first, *rest)
    await arrived(seqs, 21)
    assert seqs == list(range(1, 22))


async def test_a_retried_client_msg_id_is_not_published_again(
    runtime: Runtime,
    group_with: Callable[..., Any],
    make_user: Callable[[], Any],
    published: Callable[[int], Any],
) -> None:
    ann = await make_user()
    group = await group_with(ann)
    seqs: list[int] = await published(group)
    once = msgspec.structs.replace(draft(group, ann, "once"), client_msg_id="c-1")
    (first, created), (again, created_again) = await asyncio.gather(
        runtime.appender.submit(once, by_member=True), runtime.appender.submit(once, by_member=True)
    )
    assert (created, created_again, again.seq) == (True, False, first.seq)
    await runtime.appender.append(draft(group, ann, "next"), by_member=True)
    await arrived(seqs, 2)
    await asyncio.sleep(0.1)  # room for a wrong third
    assert seqs == [1, 2]


async def test_a_member_has_read_what_they_wrote(
    runtime: Runtime, group_with: Callable[..., Any], make_user: Callable[[], Any]
) -> None:
    ann, bob = await make_user(), await make_user()
    group = await group_with(ann, bob)
    await asyncio.gather(
        *(runtime.appender.submit(draft(group, ann, f"a{i}"), by_member=True) for i in range(3)),
        runtime.appender.submit(draft(group, bob, "b"), by_member=True),
    )
    async with runtime.sessions() as db:
        rows = await db.execute(
            select(Membership.user_id, Membership.last_read_seq).where(Membership.group_id == group)
        )
        positions = dict(rows.all())
    assert positions == {ann: 3, bob: 4}


@pytest.mark.parametrize("backend", ["postgres"])  # a row lock held by another transaction
async def test_a_slow_read_update_holds_back_only_its_own_sender(
    runtime: Runtime,
    group_with: Callable[..., Any],
    make_user: Callable[[], Any],
    published: Any,
    backend: str,
) -> None:
    ann, bob = await make_user(), await make_user()
    group = await group_with(ann, bob)
    seqs = await published(group)
    async with runtime.engine.connect() as locker:  # holds Ann's membership row until rolled back
        await locker.execute(
            select(Membership.user_id)
            .where(Membership.group_id == group, Membership.user_id == ann)
            .with_for_update()
        )
        held = runtime.appender.submit(draft(group, ann, "held"), by_member=True)
        await arrived(seqs, 1)  # stored and published; her read update now waits for the lock
        message, created = await asyncio.wait_for(
            runtime.appender.append(draft(group, bob, "free"), by_member=True), 10
        )
        assert (message.seq, created) == (2, True)
        assert not held.done()
        await locker.rollback()
    message, created = await asyncio.wait_for(held, 10)
    assert (message.seq, created) == (1, True)
    async with runtime.sessions() as db:
        rows = await db.execute(
            select(Membership.user_id, Membership.last_read_seq).where(Membership.group_id == group)
        )
        assert dict(rows.all()) == {ann: 1, bob: 2}


@pytest.fixture
def message_writes(runtime: Runtime) -> Iterator[dict[str, list[str]]]:
    """What the real engine sends that writes messages or takes seqs, and the commits it asks for."""
    seen: dict[str, list[str]] = {"statements": [], "commits": []}

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if any(table in sql.upper() for table in ("INTO MESSAGES", "INTO GROUP_SEQUENCES")):
            seen["statements"].append(sql)

    def commit(_conn: Any) -> None:
        seen["commits"].append("COMMIT")

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    yield seen
    event.remove(engine, "before_cursor_execute", statement)
    event.remove(engine, "commit", commit)


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite has no data-modifying CTE
async def test_new_messages_take_their_seqs_and_are_stored_in_one_statement(
    runtime: Runtime,
    group_with: Callable[..., Any],
    make_user: Callable[[], Any],
    message_writes: dict[str, list[str]],
    backend: str,
) -> None:
    ann = await make_user()
    group = await group_with(ann)
    await runtime.appender.append(draft(group, ann, "warm"), by_member=True)
    message_writes["statements"].clear()
    message_writes["commits"].clear()
    batch = [draft(group, ann, f"m{i}") for i in range(3)]
    batch[1] = msgspec.structs.replace(batch[1], client_msg_id="c-1")
    results = await asyncio.gather(*(runtime.appender.submit(d, by_member=True) for d in batch))
    assert [(m.seq, m.text, created) for m, created in results] == [
        (2, "m0", True),
        (3, "m1", True),
        (4, "m2", True),
    ]
    assert len(message_writes["statements"]) == 1  # seqs and rows together: one round trip
    assert message_writes["commits"] == []  # outside a transaction: no BEGIN, no COMMIT
    stored = await runtime.messages.window(group, after_seq=0, limit=10)
    assert [(m.seq, m.text, m.client_msg_id) for m in stored] == [
        (1, "warm", None),
        (2, "m0", None),
        (3, "m1", "c-1"),
        (4, "m2", None),
    ]


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_retry_beside_new_messages_falls_back_to_the_locked_path_without_a_gap(
    runtime: Runtime,
    group_with: Callable[..., Any],
    make_user: Callable[[], Any],
    message_writes: dict[str, list[str]],
    backend: str,
) -> None:
    ann = await make_user()
    group = await group_with(ann)
    sent = msgspec.structs.replace(draft(group, ann, "first"), client_msg_id="c-1")
    original, _ = await runtime.appender.append(sent, by_member=True)
    results = await asyncio.gather(
        runtime.appender.submit(sent, by_member=True),  # the retry: the unique index refuses the statement
        runtime.appender.submit(draft(group, ann, "second"), by_member=True),
    )
    assert [(m.seq, m.text, created) for m, created in results] == [(1, "first", False), (2, "second", True)]
    assert message_writes["commits"]  # the second attempt ran in a transaction, under the seq lock
    assert results[0][0].id == original.id
    after, _ = await runtime.appender.append(draft(group, ann, "third"), by_member=True)
    assert after.seq == 3  # the refused statement took no seqs
