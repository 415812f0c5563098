"""The socket writer: one write in flight; on huddle.v2 the next write carries everything queued behind
it (NDJSON, up to FRAME_CHARS), on huddle.v1 one event per frame; a lone event goes out at once; the
queue bound (in events) still closes a slow consumer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from app.ws.fanout import FRAME_CHARS, CloseCode, Outbox

pytestmark = pytest.mark.anyio


class Server:
    """Stands in for Granian's send: each write is a future the test completes."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.pending: list[asyncio.Future[None]] = []

    async def send(self, message: dict[str, Any]) -> None:
        # A plain coroutine would complete at once; this one waits like a socket under load.
        assert message["type"] == "websocket.send"
        self.writes.append(message["text"])
        done = asyncio.get_running_loop().create_future()
        self.pending.append(done)
        await done

    async def complete(self) -> None:
        """Finish the write in flight and let the outbox hand over the next one."""
        self.pending.pop(0).set_result(None)
        for _ in range(3):
            await asyncio.sleep(0)

    async def drain(self) -> None:
        """Complete writes until none is left in flight."""
        await settle()
        while self.pending:
            await self.complete()

    def events(self) -> list[int]:
        return [json.loads(line)["n"] for write in self.writes for line in write.split("\n")]


def event(n: int, pad: int = 0) -> str:
    return json.dumps({"type": "message", "n": n, "text": "x" * pad})


async def started(server: Server, *, coalesce: bool, queue_size: int = 64) -> Outbox:
    outbox = Outbox(server.send, queue_size=queue_size, coalesce=coalesce)
    outbox.start()
    return outbox


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_lone_event_is_written_at_once() -> None:
    server = Server()
    outbox = await started(server, coalesce=True)
    outbox.push(event(1))
    await settle()
    assert server.writes == [event(1)]  # no timer, no waiting for company


async def test_events_queued_behind_a_write_go_out_together_in_order() -> None:
    server = Server()
    outbox = await started(server, coalesce=True)
    for n in range(1, 6):
        outbox.push(event(n))
    await settle()
    assert len(server.writes) == 1  # the first went at once; 2..5 wait behind it
    await server.complete()
    assert server.writes[1] == "\n".join(event(n) for n in range(2, 6))
    for n in range(6, 9):
        outbox.push(event(n))
    await server.complete()
    await server.complete()
    assert server.events() == list(range(1, 9))
    assert len(server.writes) == 3


async def test_huddle_v1_writes_one_event_per_frame() -> None:
    server = Server()
    outbox = await started(server, coalesce=False)
    for n in range(1, 5):
        outbox.push(event(n))
    await server.drain()
    assert server.writes == [event(n) for n in range(1, 5)]


async def test_a_coalesced_frame_stays_under_the_cap() -> None:
    server = Server()
    outbox = await started(server, coalesce=True)
    outbox.push(event(0))
    big = FRAME_CHARS // 5
    for n in range(1, 13):
        outbox.push(event(n, pad=big))
    await server.drain()
    assert server.events() == list(range(13))
    assert all(len(write) < FRAME_CHARS for write in server.writes)
    assert len(server.writes) == 1 + 3  # 12 events of a fifth of the cap: four to a frame
    alone = event(99, pad=FRAME_CHARS)  # larger than the cap: it goes, alone
    outbox.push(event(98))
    outbox.push(alone)
    await server.drain()
    assert server.writes[-1] == alone


async def test_a_slow_consumer_is_closed_at_the_bound_counted_in_events() -> None:
    server = Server()
    outbox = await started(server, coalesce=True, queue_size=8)
    for n in range(9):  # one in flight, eight queued: full, not over
        outbox.push(event(n))
    assert outbox.close_code is None
    outbox.push(event(9))
    assert outbox.close_code == CloseCode.TRY_AGAIN_LATER
    assert outbox.queued == 0
    outbox.push(event(10))  # nothing more is queued for a closing socket
    assert outbox.queued == 0


async def test_typing_is_dropped_first_under_backpressure() -> None:
    server = Server()
    outbox = await started(server, coalesce=True, queue_size=8)
    for n in range(5):
        outbox.push(event(n))
    outbox.push(json.dumps({"type": "typing", "n": -1}), droppable=True)
    assert outbox.queued == 4  # half full: the typing event was dropped
    assert outbox.close_code is None


async def test_events_before_the_handshake_wait_and_go_out_together() -> None:
    server = Server()
    outbox = Outbox(server.send, queue_size=64, coalesce=True)
    for n in range(3):
        outbox.push(event(n))
    await settle()
    assert server.writes == []
    outbox.start()
    await settle()
    assert server.writes == ["\n".join(event(n) for n in range(3))]


class Done:
    """What Granian answers for an HTTP chunk its channel took at once: an awaitable already done,
    neither a future nor a coroutine."""

    def __await__(self) -> Any:
        return iter(())


class Suspending:
    """Any other awaitable: done once the server completes its future."""

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done

    def __await__(self) -> Any:
        return (yield from self.done)


class ChannelServer(Server):
    """A server whose send answers awaitables that are not futures, as Granian's HTTP body does."""

    def __init__(self, *, takes_at_once: bool) -> None:
        super().__init__()
        self.takes_at_once = takes_at_once

    def send(self, message: dict[str, Any]) -> Any:
        self.writes.append(message["text"])
        if self.takes_at_once:
            return Done()
        done = asyncio.get_running_loop().create_future()
        self.pending.append(done)
        return Suspending(done)


async def test_a_write_taken_at_once_completes_on_the_next_turn_and_what_queued_goes_together() -> None:
    server = ChannelServer(takes_at_once=True)
    first, second = await started(server, coalesce=True), await started(server, coalesce=True)
    for n in range(1, 4):  # in one turn, as a fan-out delivers: the first goes at once, 2 and 3 wait
        first.push(event(n))
        second.push(event(n + 10))
    assert server.writes == [event(1), event(11)]
    await settle()  # both writes completed together, each outbox sent what queued behind its write
    assert server.writes[2:] == ["\n".join([event(2), event(3)]), "\n".join([event(12), event(13)])]
    first.push(event(4))  # idle again: a lone event goes at once
    assert server.writes[-1] == event(4)
    assert await first.finish(1.0)
    assert await second.finish(1.0)


async def test_a_write_that_suspends_is_awaited_before_the_next() -> None:
    server = ChannelServer(takes_at_once=False)
    outbox = await started(server, coalesce=True)
    for n in range(1, 4):
        outbox.push(event(n))
    await settle()
    assert server.writes == [event(1)]  # the first write has not completed: 2 and 3 wait behind it
    await server.complete()
    assert server.writes == [event(1), "\n".join([event(2), event(3)])]
    await server.drain()
    assert await outbox.finish(1.0)
