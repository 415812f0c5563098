"""A following socket gets every committed message once and in order whatever the broker does: frames
that overtake each other are put back in order without a store read, a frame that never arrives live
is fetched from the store after a short grace, and the upkeep check catches up a lost last publish."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from app.broker import group_channel
from app.broker.memory import MemoryBroker
from app.db.models.accounts import User
from app.domain.accounts.services import Principal
from app.domain.messages.frames import to_frame
from app.domain.messages.store import Draft, StoredMessage
from app.domain.runtime import Runtime
from app.domain.shared.signing import AttachmentSigner
from app.ws.connection import Connection
from app.ws.delivery import envelope
from app.ws.fanout import Fanout
from app.ws.presence import MemoryPresence
from app.ws.reads import SharedReads
from app.ws.registry import Registry
from tests.helpers import eventually
from tests.integration.messages.test_shared_reads import CountingStore

pytestmark = pytest.mark.anyio


@dataclass
class Following:
    group: int
    registry: Registry
    fanout: Fanout
    store: CountingStore
    sent: list[dict[str, Any]]
    signer: AttachmentSigner

    def messages(self) -> list[tuple[int, str]]:
        return [(f["seq"], f["text"]) for f in self.sent if f["type"] == "message"]

    async def commit(self, runtime: Runtime, text: str) -> StoredMessage:
        draft = Draft(
            group_id=self.group,
            type="message",
            user="u@example.com",
            text=text,
            created_at=dt.datetime.now(dt.UTC),
        )
        ((stored, _),) = await runtime.messages.append([draft])
        return stored

    def publish(self, message: StoredMessage) -> None:
        self.fanout.on_payload(group_channel(self.group), envelope(to_frame(message, signer=self.signer)))


def connection_of(
    runtime: Runtime, user_id: int, reads: SharedReads, send: Callable[..., Any], initial_messages: int = 10
) -> Connection:
    """A real socket's connection state for a user, sending through `send`."""
    user = User(id=user_id, email=f"{uuid.uuid4().hex}@example.com", name="U", password_hash="-")
    return Connection(
        send,
        Principal(user, uuid.uuid4()),
        reads,
        queue_size=64,
        on_left=lambda *_: None,
        initial_messages=initial_messages,
        resume_limit=100,
        follows_all=False,
    )


async def started(broker: Any, runtime: Runtime) -> tuple[Registry, Fanout]:
    """A registry with the broker delivering to its sockets, as the gateway wires them."""
    registry = Registry(broker, MemoryPresence(), runtime.events)
    fanout = Fanout(registry, runtime.events.grants)
    await broker.start(fanout.on_payload)
    await registry.start()
    return registry, fanout


@pytest.fixture
async def following(
    runtime: Runtime, make_group: Callable[[], Any], make_user: Callable[[], Any]
) -> AsyncIterator[Following]:
    """A real connection following a fresh group from seq 0, caught up and live."""
    group, user_id = await make_group(), await make_user()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(json.loads(message["text"]))

    store = CountingStore(runtime.messages)
    store.gate.set()
    connection = connection_of(runtime, user_id, SharedReads(store, 4, runtime.attachment_signer), send)  # type: ignore[arg-type]
    connection.start()
    registry, fanout = await started(runtime.broker, runtime)
    await registry.add(connection)
    await registry.follow(connection, group, 0)
    await eventually(lambda: not connection.feeds[group].syncing)
    yield Following(group, registry, fanout, store, sent, runtime.attachment_signer)
    connection.close(1000)
    await registry.remove(connection)
    connection.stop_feeds()


async def test_a_caught_up_connection_keeps_no_finished_catch_up_task(
    runtime: Runtime, make_group: Callable[[], Any], make_user: Callable[[], Any]
) -> None:
    """Each followed group is caught up by a task; an idle socket following many groups must not
    keep every finished one (and what it holds) for as long as it stays open."""
    groups, user_id = [await make_group() for _ in range(3)], await make_user()

    async def send(message: dict[str, Any]) -> None:
        pass

    reads = SharedReads(runtime.messages, 4, runtime.attachment_signer)
    connection = connection_of(runtime, user_id, reads, send)
    connection.start()
    registry, _ = await started(runtime.broker, runtime)
    await registry.add(connection)
    for group in groups:
        await registry.follow(connection, group, 0)
    await eventually(lambda: not any(connection.feeds[group].syncing for group in groups))
    finished = [g for g in groups if (task := connection.feeds[g].task) is not None and task.done()]
    assert finished == []
    connection.close(1000)
    await registry.remove(connection)
    connection.stop_feeds()


async def test_overtaken_frames_are_put_back_in_order_without_a_store_read(
    runtime: Runtime, following: Following
) -> None:
    first, second, third = [await following.commit(runtime, f"m{i}") for i in range(3)]
    reads = following.store.calls

    following.publish(third)
    following.publish(second)  # both overtook the first: held back, not sent
    await asyncio.sleep(0.01)
    assert following.messages() == []
    following.publish(first)
    await eventually(lambda: len(following.messages()) == 3)

    assert following.messages() == [(first.seq, "m0"), (second.seq, "m1"), (third.seq, "m2")]
    assert following.store.calls == reads  # the gap closed live: the store was not asked


async def test_a_frame_that_never_arrives_is_read_from_the_store_after_the_grace(
    runtime: Runtime, following: Following
) -> None:
    lost, arrived = await following.commit(runtime, "lost"), await following.commit(runtime, "arrived")
    reads = following.store.calls

    following.publish(arrived)
    await asyncio.sleep(0)
    assert following.messages() == []  # held back for GAP_GRACE: the overtaken frame may still come
    assert following.store.calls == reads
    await eventually(lambda: len(following.messages()) == 2)
    assert following.store.calls > reads

    assert following.messages() == [(lost.seq, "lost"), (arrived.seq, "arrived")]


async def test_a_lost_publish_is_caught_up(runtime: Runtime, following: Following) -> None:
    stored = await following.commit(runtime, "committed, never published")
    await asyncio.sleep(0.1)
    assert following.messages() == []  # nothing told the socket

    assert following.registry.catch_up({following.group: stored.seq}) == 0  # may still be on its way
    assert following.registry.catch_up({following.group: stored.seq}) == 1  # a check later: lost
    await eventually(lambda: len(following.messages()) == 1)
    assert following.messages() == [(stored.seq, "committed, never published")]
    assert following.registry.catch_up({following.group: stored.seq}) == 0  # up to date: nothing more


async def test_a_message_on_its_way_at_the_check_is_not_read_from_the_store(
    runtime: Runtime, following: Following
) -> None:
    """Under load the store is always a little ahead of the sockets (committed, being published):
    the upkeep check must not take that for lost publishes and send every socket to the store."""
    stored = await following.commit(runtime, "committed, publish on its way")
    reads = following.store.calls

    assert following.registry.catch_up({following.group: stored.seq}) == 0
    following.publish(stored)
    newer = await following.commit(runtime, "committed after, on its way too")
    assert following.registry.catch_up({following.group: newer.seq}) == 0
    following.publish(newer)
    await eventually(lambda: len(following.messages()) == 2)

    assert following.store.calls == reads
    assert following.messages() == [
        (stored.seq, "committed, publish on its way"),
        (newer.seq, "committed after, on its way too"),
    ]


class SlowToConfirm(MemoryBroker):
    """The in-process broker, with subscriptions confirmed only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.confirm = asyncio.Event()

    async def subscribe(self, channel: str) -> None:
        await super().subscribe(channel)
        await self.confirm.wait()


async def test_no_socket_reads_the_store_before_the_group_subscription_is_confirmed(
    runtime: Runtime, make_group: Callable[[], Any], make_user: Callable[[], Any]
) -> None:
    group = await make_group()
    broker = SlowToConfirm()
    store = CountingStore(runtime.messages)
    store.gate.set()
    registry, _ = await started(broker, runtime)
    reads = SharedReads(store, 4, runtime.attachment_signer)  # type: ignore[arg-type]

    async def send(_: dict[str, Any]) -> None:
        return None

    sockets = [connection_of(runtime, await make_user(), reads, send) for _ in range(2)]
    first = asyncio.create_task(registry.follow(sockets[0], group, None))  # subscribes the channel
    await asyncio.sleep(0)
    second = asyncio.create_task(registry.follow(sockets[1], group, None))  # finds it subscribing
    for _ in range(20):
        await asyncio.sleep(0)
    assert store.calls == 0  # neither socket read the store: the subscription is unconfirmed

    broker.confirm.set()
    await asyncio.gather(first, second)
    await eventually(lambda: not any(s.feeds[group].syncing for s in sockets))
    assert store.calls >= 1
    for connection in sockets:
        connection.stop_feeds()


async def test_a_message_arriving_while_a_new_socket_sets_up_is_sent_even_with_no_history(
    runtime: Runtime, make_group: Callable[[], Any], make_user: Callable[[], Any]
) -> None:
    """A first connection (no last seq) with WS_INITIAL_MESSAGES=0: a message committed and published
    after it subscribed, while its store read is still out, is new to it, even though that read
    counts it in the group's latest seq."""
    group, user_id = await make_group(), await make_user()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(json.loads(message["text"]))

    store = CountingStore(runtime.messages)  # reads wait at the gate
    signer = runtime.attachment_signer
    reads = SharedReads(store, 4, signer)  # type: ignore[arg-type]
    connection = connection_of(runtime, user_id, reads, send, initial_messages=0)
    connection.start()
    registry, fanout = await started(runtime.broker, runtime)
    await registry.add(connection)
    following = Following(group, registry, fanout, store, sent, signer)
    await registry.follow(connection, group, None)  # subscribed; its first read waits at the gate
    await eventually(lambda: store.calls >= 1)
    arrived = await following.commit(runtime, "during set-up")
    following.publish(arrived)
    store.gate.set()
    await eventually(lambda: not connection.feeds[group].syncing)
    await eventually(lambda: following.messages() == [(arrived.seq, "during set-up")])
    connection.close(1000)
    await registry.remove(connection)
    connection.stop_feeds()
