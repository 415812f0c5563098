"""Sharded pub/sub on a Redis Cluster (REDIS_CLUSTER=1): SPUBLISH and SSUBSCRIBE.

A channel hashes to one slot, so its traffic stays on the shard (master) that owns the slot instead of
being broadcast to every node as classic PUBLISH on a cluster is. Publishing goes through the cluster
client's pipeline (grouped per shard, in order per channel, following MOVED redirections). Subscribing
is done here, one connection per shard this worker needs (not per channel):

- A channel is SSUBSCRIBEd on the connection of the master owning its slot, and `subscribe` returns
  once that master confirms it, so a sync that reads the store afterwards cannot miss a message
  published in between (as with RedisBroker).
- When a shard's connection fails (the master died), or the shard unsubscribes us by itself (it lost
  the slot: a failover demoted it, or the slot was resharded away), the slot map is read again, every
  channel whose owner changed is subscribed on its new owner, and once every one is confirmed
  `on_reconnect` makes every socket fetch from the store what it may have missed. Retried with backoff
  until the cluster has an owner for every slot again (a failover takes the cluster's node timeout).
- The shard connections never reconnect by themselves (no retries on them): a silent reconnect would
  skip that resync.

redis-py's asyncio ClusterPubSub also has `ssubscribe`, but it polls its per-node connections in turn
(each poll waits its timeout, so one quiet shard delays another's messages) and reconciles moved slots
in the background without saying when the new subscriptions are confirmed, which the resync needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.broker import Handler
from app.broker.redis_broker import CONFIRM_TIMEOUT, PipelinedPublisher
from app.observability import metrics

log = logging.getLogger("huddle.broker")
PING_EVERY = 5.0  # seconds of silence on a shard connection before it is pinged
PONG_WITHIN = 10.0  # a pinged shard that stays silent this long counts as dead


def node_url(url: str, host: str, port: int) -> str:
    """REDIS_URL with another node's address, keeping the scheme (TLS) and credentials."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, "", "", ""))


class _Shard:
    """The subscription connection to one master."""

    def __init__(self, name: str, client: Redis) -> None:
        self.name = name
        self.client = client
        self.pubsub: PubSub = client.pubsub(ignore_subscribe_messages=False)
        self.channels: set[str] = set()  # subscribed here (full names)
        self.leaving: set[str] = set()  # our own SUNSUBSCRIBEs not yet confirmed
        self.alive = True
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reader: asyncio.Task[None] | None = None

    async def close(self) -> None:
        self.alive = False
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
                await asyncio.wait_for(self.reader, 2.0)
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]
        with contextlib.suppress(Exception):
            await self.client.aclose()


class ShardedRedisBroker(PipelinedPublisher):
    _publish_command = "SPUBLISH"

    def __init__(
        self,
        cluster: RedisCluster,
        url: str,
        prefix: str,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(cluster, prefix)
        self._cluster = cluster
        self._url = url
        self.on_reconnect = on_reconnect
        # Given the channels that moved (without the prefix), called instead of on_reconnect: only
        # they may have missed messages, so only their sockets need to re-read the store.
        self.on_moved: Callable[[list[str]], None] | None = None
        self._handler: Handler | None = None
        self._wanted: set[str] = set()  # full channel names this worker needs
        self._owner: dict[str, _Shard] = {}  # channel -> the shard it is subscribed on
        self._shards: dict[str, _Shard] = {}  # node name -> its live shard connection
        self._confirm: dict[str, asyncio.Future[None]] = {}
        self._stable = asyncio.Event()  # no rebuild pending: subscriptions go straight to their shard
        self._rebuilder: asyncio.Task[None] | None = None
        self._again = False
        self._started = False
        self._closing = False
        self.reconnects = 0

    # -- the port ------------------------------------------------------------------------------------

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        self._rebuild_soon()  # in the background: a worker must start while the cluster is down

    async def subscribe(self, channel: str) -> None:
        full = self._prefix + channel
        self._wanted.add(full)
        await self._stable.wait()
        if full not in self._wanted:
            return  # unsubscribed meanwhile
        try:
            await self._place([full])
        except Exception as error:  # noqa: BLE001 -- the rebuild subscribes it and resyncs
            log.warning(
                "sharded subscribe not confirmed (%s); the rebuild will cover it", type(error).__name__
            )
            self._rebuild_soon()
            return
        if full not in self._wanted:
            await self.unsubscribe(channel)  # unsubscribed while this was being confirmed

    async def unsubscribe(self, channel: str) -> None:
        full = self._prefix + channel
        self._wanted.discard(full)
        shard = self._owner.pop(full, None)
        if shard is None or not shard.alive:
            return
        shard.channels.discard(full)
        shard.leaving.add(full)
        try:
            await shard.pubsub.sunsubscribe(full)
        except Exception:  # noqa: BLE001 -- the connection is gone: nothing left to unsubscribe
            shard.leaving.discard(full)

    async def close(self) -> None:
        self._closing = True
        if self._rebuilder is not None:
            self._rebuilder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._rebuilder, 2.0)
        for shard in list(self._shards.values()):
            await shard.close()
        self._shards.clear()
        self._handler = None

    def stats(self) -> dict[str, int]:
        return {"shards": len(self._shards), "channels": len(self._owner)}

    # -- placing channels on their shards -----------------------------------------------------------

    async def _shard(self, name: str, host: str, port: int) -> _Shard:
        shard = self._shards.get(name)
        if shard is None or not shard.alive:
            client = Redis.from_url(
                node_url(self._url, host, port),
                socket_connect_timeout=2,
                socket_timeout=5,
                retry=Retry(NoBackoff(), 0),  # never reconnect silently: a failure means a rebuild
            )
            shard = self._shards[name] = _Shard(name, client)
            try:
                await shard.pubsub.connect()  # type: ignore[no-untyped-call]
            except BaseException as error:
                if isinstance(error, Exception):
                    shard.opened.set_exception(error)
                    shard.opened.exception()  # retrieved: waiters get it from their own await
                else:
                    shard.opened.cancel()  # cancelled: the waiters try again in the rebuild
                await self._drop(shard)
                raise
            shard.reader = asyncio.get_running_loop().create_task(self._read(shard))
            shard.opened.set_result(None)
        await asyncio.shield(shard.opened)
        return shard

    async def _place(self, channels: list[str]) -> None:
        """SSUBSCRIBE each channel on the master owning its slot (per the client's slot map) and wait
        until every one is confirmed. A shard that fails is dropped and the error raised."""
        by_node: defaultdict[str, list[str]] = defaultdict(list)
        addresses: dict[str, tuple[str, int]] = {}
        for channel in channels:
            node = self._cluster.get_node_from_key(channel)
            if node is None:
                raise ConnectionError(f"no master owns the slot of {channel}")
            by_node[node.name].append(channel)
            addresses[node.name] = (node.host, int(node.port))
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future[None]] = []
        for name, names in by_node.items():
            shard = await self._shard(name, *addresses[name])
            try:
                for channel in names:
                    previous = self._owner.get(channel)
                    if previous is shard and channel in shard.channels:
                        waiter = self._confirm.get(channel)
                        if waiter is not None:
                            waits.append(waiter)
                        continue
                    waits.append(self._confirm.setdefault(channel, loop.create_future()))
                    self._owner[channel] = shard
                    shard.channels.add(channel)
                    shard.leaving.discard(channel)
                    # One channel per SSUBSCRIBE: several in one command must share a slot.
                    await shard.pubsub.ssubscribe(channel)
                    if previous is not None and previous is not shard:
                        previous.channels.discard(channel)
                        if previous.alive:
                            previous.leaving.add(channel)
                            with contextlib.suppress(Exception):
                                await previous.pubsub.sunsubscribe(channel)
            except Exception:
                await self._drop(shard)
                raise
        try:
            await asyncio.wait_for(asyncio.gather(*(asyncio.shield(w) for w in waits)), CONFIRM_TIMEOUT)
        except TimeoutError:
            for name in by_node:
                stuck = self._shards.get(name)
                if stuck is not None:
                    await self._drop(stuck)
            raise

    async def _drop(self, shard: _Shard) -> None:
        """Forget a shard connection; its channels wait for the rebuild to place them again."""
        if self._shards.get(shard.name) is shard:
            del self._shards[shard.name]
        for channel in shard.channels:
            if self._owner.get(channel) is shard:
                del self._owner[channel]
            waiter = self._confirm.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionError(f"shard {shard.name} lost"))
                waiter.exception()
        shard.channels.clear()
        await shard.close()

    # -- reading -------------------------------------------------------------------------------------

    async def _read(self, shard: _Shard) -> None:
        silent_since = time.monotonic()
        pinged = False
        try:
            while shard.alive and not self._closing:
                message = await shard.pubsub.get_message(timeout=1.0)
                if message is not None:
                    silent_since, pinged = time.monotonic(), False
                    self._dispatch(shard, message)
                elif time.monotonic() - silent_since > PING_EVERY:
                    pinged = await self._keep_alive(shard, pinged, time.monotonic() - silent_since)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 -- any failure of the connection: rebuild
            if shard.alive and not self._closing:
                log.warning("shard %s connection lost (%s); rebuilding", shard.name, type(error).__name__)
                await self._drop(shard)
                self._rebuild_soon()

    @staticmethod
    async def _keep_alive(shard: _Shard, pinged: bool, silence: float) -> bool:
        """Ping a quiet connection once; raise when it stays silent after that (a frozen master)."""
        if pinged:
            if silence > PING_EVERY + PONG_WITHIN:
                raise TimeoutError(f"shard {shard.name} stopped answering")
            return True
        await shard.pubsub.ping()
        return True

    def _dispatch(self, shard: _Shard, message: dict[str, Any]) -> None:
        if message.get("channel") is None:
            return  # a pong
        kind, channel = message["type"], message["channel"].decode()
        if kind == "smessage":
            if self._handler is not None:
                try:
                    self._handler(channel[len(self._prefix) :], message["data"])
                except Exception:
                    log.exception("fan-out handler failed for %s", channel)
        elif kind == "ssubscribe":
            waiter = self._confirm.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif kind == "sunsubscribe":
            if channel in shard.leaving:
                shard.leaving.discard(channel)
            elif channel in shard.channels:
                # Not ours: the master lost the slot (failover, resharding).
                log.info("shard %s gave up %s; reading the slot map again", shard.name, channel)
                shard.channels.discard(channel)
                if self._owner.get(channel) is shard:
                    del self._owner[channel]
                self._rebuild_soon()

    # -- rebuilding after a failover or a resharding ------------------------------------------------

    def _rebuild_soon(self) -> None:
        if self._closing:
            return
        self._stable.clear()
        if self._rebuilder is None or self._rebuilder.done():
            self._rebuilder = asyncio.get_running_loop().create_task(self._rebuild())
        else:
            self._again = True

    async def _rebuild(self) -> None:
        delay = 0.1
        moved: set[str] = set()  # over every attempt: a channel placed by a failed one had a gap too
        while not self._closing:
            self._again = False
            try:
                if self._started:
                    await self._cluster.nodes_manager.initialize()  # the slot map, read again
                else:
                    await self._cluster.initialize()
                moving = await self._misplaced()
                moved.update(moving)
                await self._place(moving)
                if self._again:
                    continue  # something else broke meanwhile: look again before resyncing
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 -- retried until the cluster has owners again
                log.warning("sharded broker rebuild failed (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self._stable.set()
            if self._started:
                self._announce(moved)
            self._started = True
            return

    async def _misplaced(self) -> list[str]:
        """Drop the connections to nodes that are no longer masters; list the wanted channels that
        are not subscribed on their slot's master (per the slot map just read)."""
        primaries = {node.name for node in self._cluster.get_primaries()}
        for shard in list(self._shards.values()):
            if shard.name not in primaries:
                await self._drop(shard)
        moving = []
        for channel in list(self._wanted):
            held = self._owner.get(channel)
            owner = self._cluster.get_node_from_key(channel)
            if held is None or not held.alive or owner is None or owner.name != held.name:
                moving.append(channel)
        return moving

    def _announce(self, moved: set[str]) -> None:
        """Only now that every moved channel is confirmed may sockets re-read the store."""
        self.reconnects += 1
        metrics.broker_reconnected()
        log.info("broker rebuilt on %d shard(s); %d channel(s) moved", len(self._shards), len(moved))
        if self.on_moved is not None:
            self.on_moved([channel[len(self._prefix) :] for channel in moved])
        elif self.on_reconnect is not None:
            self.on_reconnect()
