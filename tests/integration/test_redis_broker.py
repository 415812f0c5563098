"""The Redis broker's publishing: several payloads and concurrent publishers arrive in order, and a
publisher cancelled while it flushes for the others does not strand them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.ws.broker.redis_broker import RedisBroker
from tests.helpers import eventually

pytestmark = pytest.mark.anyio


class Heard:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def __call__(self, _channel: str, payload: bytes) -> None:
        self.payloads.append(payload)


@pytest.fixture
async def broker(redis_env: tuple[str, str]) -> AsyncIterator[tuple[RedisBroker, Heard]]:
    url, prefix = redis_env
    client = Redis.from_url(url)
    broker, heard = RedisBroker(client, f"{prefix}broker-{uuid.uuid4().hex[:6]}:"), Heard()
    await broker.start(heard)
    await broker.subscribe("g:1")
    yield broker, heard
    await broker.close()
    await client.aclose()


async def test_concurrent_publishers_arrive_in_order(broker: tuple[RedisBroker, Heard]) -> None:
    publisher, heard = broker
    await asyncio.gather(
        publisher.publish("g:1", b"1", b"2"),
        publisher.publish("g:1", b"3"),
        publisher.publish("g:1", b"4", b"5"),
    )
    await eventually(lambda: len(heard.payloads) >= 5)
    assert heard.payloads == [b"1", b"2", b"3", b"4", b"5"]


async def test_a_publisher_cancelled_while_flushing_hands_the_queue_over(
    broker: tuple[RedisBroker, Heard],
) -> None:
    publisher, heard = broker
    first = asyncio.ensure_future(publisher.publish("g:1", b"first"))
    await asyncio.sleep(0)  # `first` is flushing: waiting for Redis to answer its pipeline
    queued = asyncio.ensure_future(publisher.publish("g:1", b"queued"))
    await asyncio.sleep(0)  # `queued` waits for the next round trip
    first.cancel()
    await asyncio.wait_for(queued, 5)
    await eventually(lambda: b"queued" in heard.payloads)


async def test_a_publisher_is_not_held_to_flush_for_others(broker: tuple[RedisBroker, Heard]) -> None:
    """Publishes that keep arriving must not keep the caller that happened to start flushing busy."""
    publisher, heard = broker
    first = asyncio.ensure_future(publisher.publish("g:1", b"first"))
    await asyncio.sleep(0)  # `first` is flushing
    others: list[asyncio.Future[None]] = []
    while not first.done() and len(others) < 20_000:  # a new publish on every turn of the loop
        others.append(asyncio.ensure_future(publisher.publish("g:1", b"other")))
        await asyncio.sleep(0)
    assert first.done()
    await asyncio.wait_for(asyncio.gather(*others), 30)
    await eventually(lambda: len(heard.payloads) == 1 + len(others))
    assert heard.payloads[0] == b"first"
