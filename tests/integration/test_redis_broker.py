"""The Redis brokers' publishing, on one Redis (PUBLISH) and on a Redis Cluster (SPUBLISH/SSUBSCRIBE):
several payloads and concurrent publishers arrive in order, and a publisher cancelled while it flushes
for the others does not strand them. On the cluster: one subscription connection per shard however
many channels, and a master killed mid-stream moves its channels to the promoted replica."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis, RedisCluster

from app.broker.redis_broker import PipelinedPublisher, RedisBroker
from app.broker.sharded import ShardedRedisBroker
from app.kv.redis_state import connect_redis_cluster
from tests.helpers import eventually
from tests.redis_cluster import LocalCluster, local_cluster

pytestmark = pytest.mark.anyio


class Heard:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def __call__(self, _channel: str, payload: bytes) -> None:
        self.payloads.append(payload)


@pytest.fixture(params=["redis", "redis-cluster"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[tuple[PipelinedPublisher, Heard]]:
    heard = Heard()
    client: Redis | RedisCluster
    publisher: RedisBroker | ShardedRedisBroker
    if request.param == "redis":
        url, prefix = request.getfixturevalue("redis_env")
        client = Redis.from_url(url)
        publisher = RedisBroker(client, f"{prefix}broker-{uuid.uuid4().hex[:6]}:")
    else:
        url, prefix = request.getfixturevalue("redis_cluster_env")
        client = connect_redis_cluster(url)
        publisher = ShardedRedisBroker(client, url, f"{prefix}broker-{uuid.uuid4().hex[:6]}:")
    await publisher.start(heard)
    await publisher.subscribe("g:1")
    yield publisher, heard
    await publisher.close()
    await client.aclose()


async def test_concurrent_publishers_arrive_in_order(broker: tuple[PipelinedPublisher, Heard]) -> None:
    publisher, heard = broker
    await asyncio.gather(
        publisher.publish("g:1", b"1", b"2"),
        publisher.publish("g:1", b"3"),
        publisher.publish("g:1", b"4", b"5"),
    )
    await eventually(lambda: len(heard.payloads) >= 5)
    assert heard.payloads == [b"1", b"2", b"3", b"4", b"5"]


async def test_a_publisher_cancelled_while_flushing_hands_the_queue_over(
    broker: tuple[PipelinedPublisher, Heard],
) -> None:
    publisher, heard = broker
    first = asyncio.ensure_future(publisher.publish("g:1", b"first"))
    await asyncio.sleep(0)  # `first` is flushing: waiting for Redis to answer its pipeline
    queued = asyncio.ensure_future(publisher.publish("g:1", b"queued"))
    await asyncio.sleep(0)  # `queued` waits for the next round trip
    first.cancel()
    await asyncio.wait_for(queued, 5)
    await eventually(lambda: b"queued" in heard.payloads)


async def test_a_publisher_is_not_held_to_flush_for_others(broker: tuple[PipelinedPublisher, Heard]) -> None:
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


class HeardByChannel:
    def __init__(self) -> None:
        self.payloads: dict[str, list[bytes]] = {}

    def __call__(self, channel: str, payload: bytes) -> None:
        self.payloads.setdefault(channel, []).append(payload)


async def test_sharded_subscriptions_use_one_connection_per_shard(redis_cluster_env: tuple[str, str]) -> None:
    url, prefix = redis_cluster_env
    client = connect_redis_cluster(url)
    broker, heard = (
        ShardedRedisBroker(client, url, f"{prefix}shards-{uuid.uuid4().hex[:6]}:"),
        HeardByChannel(),
    )
    await broker.start(heard)
    try:
        channels = [f"g:{i}" for i in range(60)]
        await asyncio.gather(*(broker.subscribe(channel) for channel in channels))
        assert broker.stats() == {"shards": 3, "channels": 60}  # 60 channels hash over all 3 masters
        for channel in channels:
            await broker.publish(channel, channel.encode())
        await eventually(lambda: len(heard.payloads) == 60)
        assert all(heard.payloads[c] == [c.encode()] for c in channels)
        await asyncio.gather(*(broker.unsubscribe(channel) for channel in channels[1:]))
        await broker.publish("g:1", b"gone")
        await broker.publish("g:0", b"still")
        await eventually(lambda: heard.payloads["g:0"] == [b"g:0", b"still"])
        assert heard.payloads["g:1"] == [b"g:1"]
    finally:
        await broker.close()
        await client.aclose()


@pytest.mark.slow
async def test_a_killed_master_moves_its_channels_to_the_promoted_replica(tmp_path: Path) -> None:
    """The master of a channel dies mid-stream: the broker reads the slot map again once its replica
    is promoted, subscribes there, and only then asks for the resync that fills the gap, naming the
    channels that moved (the other shards' channels missed nothing)."""
    with local_cluster(tmp_path) as cluster:
        client = connect_redis_cluster(cluster.url)
        resynced = asyncio.Event()
        broker, heard = ShardedRedisBroker(client, cluster.url, "kill:"), HeardByChannel()
        told: set[str] = set()

        def on_moved(channels: list[str]) -> None:
            told.update(channels)
            resynced.set()

        broker.on_moved = on_moved
        await broker.start(heard)
        try:
            channels = [f"g:{i}" for i in range(30)]
            for channel in channels:
                await broker.subscribe(channel)
            victim = cluster.master_of("kill:g:0")
            moved = [c for c in channels if cluster.master_of(f"kill:{c}") == victim]
            await broker.publish("g:0", b"before")
            await eventually(lambda: heard.payloads.get("g:0") == [b"before"])
            await asyncio.to_thread(cluster.kill, victim)
            await asyncio.wait_for(resynced.wait(), 30)  # after the promotion and the new SSUBSCRIBEs
            assert broker.reconnects == 1
            assert told == set(moved)  # only the lost shard's channels need their sockets to re-read
            assert victim not in cluster.masters()
            for channel in moved:
                await broker.publish(channel, b"after")
            await eventually(lambda: all(heard.payloads.get(c, [])[-1:] == [b"after"] for c in moved))
            assert broker.stats() == {"shards": 3, "channels": 30}
        finally:
            await broker.close()
            await client.aclose()


def move_slot(cluster: LocalCluster, key: str, to_port: int) -> None:
    """Reshard the (empty) slot of `key` onto the master at `to_port`, as `redis-cli --cluster
    reshard` does: IMPORTING/MIGRATING, then every master learns the new owner."""
    from_port = cluster.master_of(key)
    source, target = cluster.node(from_port), cluster.node(to_port)
    try:
        slot = int(source.execute_command("CLUSTER", "KEYSLOT", key))
        source_id = source.execute_command("CLUSTER", "MYID").decode()
        target_id = target.execute_command("CLUSTER", "MYID").decode()
        target.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        source.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        target.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        source.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        for port in cluster.masters():
            if port not in (from_port, to_port):
                master = cluster.node(port)
                master.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
                master.close()
    finally:
        source.close()
        target.close()


@pytest.mark.slow
async def test_a_resharded_channel_follows_its_slot_to_the_new_master(tmp_path: Path) -> None:
    """Redis unsubscribes a channel's subscribers when its slot leaves their master (SUNSUBSCRIBE
    pushed by the server): the broker reads the slot map again and subscribes on the new owner."""
    with local_cluster(tmp_path) as cluster:
        client = connect_redis_cluster(cluster.url)
        resynced = asyncio.Event()
        broker, heard = ShardedRedisBroker(client, cluster.url, "reshard:"), HeardByChannel()
        broker.on_reconnect = resynced.set
        await broker.start(heard)
        try:
            await broker.subscribe("g:7")
            await broker.subscribe("g:8")
            before = cluster.master_of("reshard:g:7")
            await broker.publish("g:7", b"before")
            await eventually(lambda: heard.payloads.get("g:7") == [b"before"])
            after = next(port for port in cluster.masters() if port != before)
            await asyncio.to_thread(move_slot, cluster, "reshard:g:7", after)
            await asyncio.wait_for(resynced.wait(), 15)
            assert cluster.master_of("reshard:g:7") == after
            await broker.publish("g:7", b"after")  # the publisher follows MOVED to the new owner
            await broker.publish("g:8", b"untouched")
            await eventually(lambda: heard.payloads.get("g:7") == [b"before", b"after"])
            await eventually(lambda: heard.payloads.get("g:8") == [b"untouched"])
        finally:
            await broker.close()
            await client.aclose()


@pytest.mark.slow
async def test_a_manual_failover_moves_the_subscription_to_the_promoted_replica(tmp_path: Path) -> None:
    """`CLUSTER FAILOVER` (a maintenance): the old master stays up as a replica and unsubscribes its
    shard subscribers; the broker follows the slot to the promoted node."""
    with local_cluster(tmp_path) as cluster:
        client = connect_redis_cluster(cluster.url)
        resynced = asyncio.Event()
        broker, heard = ShardedRedisBroker(client, cluster.url, "manual:"), HeardByChannel()
        broker.on_reconnect = resynced.set
        await broker.start(heard)
        try:
            await broker.subscribe("g:3")
            old = cluster.master_of("manual:g:3")
            (promoted,) = cluster.replicas(old)
            replica = cluster.node(promoted)
            try:
                replica.execute_command("CLUSTER", "FAILOVER")
            finally:
                replica.close()
            await asyncio.wait_for(resynced.wait(), 30)
            await asyncio.to_thread(cluster.wait_ok)
            assert cluster.master_of("manual:g:3") == promoted
            await broker.publish("g:3", b"after")
            await eventually(lambda: heard.payloads.get("g:3") == [b"after"])
        finally:
            await broker.close()
            await client.aclose()


@pytest.mark.slow
async def test_a_frozen_master_is_noticed_and_its_channels_move(tmp_path: Path) -> None:
    """A master that hangs (SIGSTOP) keeps its connections open: no error ever comes. The cluster
    promotes its replica; the broker notices the silent connection (a ping left unanswered) and moves
    the channel to the new master."""
    with local_cluster(tmp_path) as cluster:
        client = connect_redis_cluster(cluster.url)
        resynced = asyncio.Event()
        broker, heard = ShardedRedisBroker(client, cluster.url, "freeze:"), HeardByChannel()
        broker.on_moved = lambda _moved: resynced.set()
        await broker.start(heard)
        victim = cluster.master_of("freeze:g:5")
        try:
            await broker.subscribe("g:5")
            cluster.freeze(victim)
            await asyncio.wait_for(resynced.wait(), 60)
            assert cluster.master_of("freeze:g:5") != victim
            await broker.publish("g:5", b"after")
            await eventually(lambda: heard.payloads.get("g:5") == [b"after"])
        finally:
            cluster.thaw(victim)
            await broker.close()
            await client.aclose()
