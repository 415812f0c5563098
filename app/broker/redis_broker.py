"""Redis pub/sub broker: one subscriber connection per worker, pipelined publishing (on a Redis Cluster,
app/broker/sharded.py subscribes instead and this module only publishes).

- Subscriptions are confirmed before `subscribe` returns, so a sync that reads the store afterwards
  cannot miss a message published in between.
- Publishes queued by concurrent callers go out together in one pipeline round trip.
- When the connection drops, the listener reconnects with backoff, resubscribes every channel and
  calls `on_reconnect`, which makes every socket fetch what it may have missed from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from app.broker import Handler
from app.observability import metrics

log = logging.getLogger("huddle.broker")
CONFIRM_TIMEOUT = 5.0
PUBLISH_BATCH = 512


class PipelinedPublisher:
    """Publishes queued by concurrent callers go out together, in order, one pipeline round trip per
    batch. `_publish_command` names the command: PUBLISH, or SPUBLISH on a cluster (each channel's
    publishes then go to the shard that owns its slot, still in order per channel)."""

    _publish_command = "PUBLISH"

    def __init__(self, client: Redis | RedisCluster, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._outbox: list[tuple[str, tuple[bytes, ...], asyncio.Future[None]]] = []
        self._flushing = False
        self._flusher: asyncio.Task[None] | None = None  # held: the loop keeps tasks only weakly

    async def publish(self, channel: str, *payloads: bytes) -> None:
        """A caller that finds no flush running flushes until its own payloads are out, in its own
        coroutine (a flush task would cost two more turns of a busy event loop). Callers arriving
        meanwhile queue; what is left when it returns (or is cancelled) a task flushes, so no caller
        is held to flush for others."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.append((self._prefix + channel, payloads, done))
        try:
            await self._flush_unless_flushing(done)
        finally:
            if self._outbox and not self._flushing:
                self._flusher = asyncio.get_running_loop().create_task(self._flush_unless_flushing(None))
        await done

    async def _flush_unless_flushing(self, until: asyncio.Future[None] | None) -> None:
        if self._flushing:
            return
        self._flushing = True
        try:
            while self._outbox and (until is None or not until.done()):
                await self._flush_batch()
        finally:
            self._flushing = False

    async def _flush_batch(self) -> None:
        """One pipelined round trip for the oldest queued publishes."""
        batch, self._outbox = self._outbox[:PUBLISH_BATCH], self._outbox[PUBLISH_BATCH:]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel, payloads, _ in batch:
                    for payload in payloads:
                        pipe.execute_command(self._publish_command, channel, payload)
                await pipe.execute()
        except Exception as error:  # noqa: BLE001 -- handed to every waiting publisher
            for _, _, done in batch:
                if not done.done():
                    done.set_exception(error)
        else:
            for _, _, done in batch:
                if not done.done():
                    done.set_result(None)


class RedisBroker(PipelinedPublisher):
    def __init__(self, client: Redis, prefix: str, on_reconnect: Callable[[], None] | None = None) -> None:
        super().__init__(client, prefix)
        self._client = client
        self.on_reconnect = on_reconnect
        self._handler: Handler | None = None
        self._channels: set[str] = set()
        self._confirm: dict[str, asyncio.Future[None]] = {}
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = False
        self._resync: asyncio.Task[None] | None = None
        self.reconnects = 0

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    # -- subscribing -------------------------------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        await self._ready.wait()
        await self._send_subscribe([channel])

    async def _send_subscribe(self, channels: list[str]) -> None:
        if self._pubsub is None:
            return
        loop = asyncio.get_running_loop()
        waits = [self._confirm.setdefault(self._prefix + c, loop.create_future()) for c in channels]
        try:
            await self._pubsub.subscribe(*(self._prefix + c for c in channels))
            await asyncio.wait_for(asyncio.gather(*waits), CONFIRM_TIMEOUT)
        except (RedisError, OSError, TimeoutError):
            # The listener is reconnecting; it resubscribes every channel and triggers a resync.
            log.warning(
                "subscribe to %d channel(s) not confirmed; the reconnect will cover it", len(channels)
            )

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(self._prefix + channel)

    async def _listen(self) -> None:
        delay = 0.1
        first = True
        while not self._closing:
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=False)
            try:
                await self._pubsub.ping()
                self._ready.set()
                loop = asyncio.get_running_loop()
                channels = [self._prefix + c for c in self._channels]
                confirmed = [self._confirm.setdefault(c, loop.create_future()) for c in channels]
                if channels:
                    await self._pubsub.subscribe(*channels)
                if not first:
                    self.reconnects += 1
                    metrics.broker_reconnected()
                    log.info("broker reconnected; resubscribing %d channel(s)", len(channels))
                    self._resync = loop.create_task(self._resync_when_subscribed(confirmed))
                first, delay = False, 0.1
                await self._read()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                log.warning("broker connection lost (%s); reconnecting in %.1fs", type(error).__name__, delay)
            except Exception:
                # Never let the listener die: a worker without it would silently stop fanning out.
                log.exception("broker listener failed; reconnecting in %.1fs", delay)
            self._ready.clear()
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _resync_when_subscribed(self, confirmed: list[asyncio.Future[None]]) -> None:
        """Only once Redis confirms the subscriptions may sockets re-read the store: a message
        published before that is then certain to be in the store read, and one after it arrives live."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*confirmed), CONFIRM_TIMEOUT)
        if self.on_reconnect is not None:
            self.on_reconnect()

    async def _read(self) -> None:
        if self._pubsub is None:
            return
        prefix_length = len(self._prefix)
        idle = 0
        while not self._closing:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None:
                idle += 1
                if idle % 30 == 0:
                    await self._pubsub.ping()  # notice a silently dead connection
                continue
            idle = 0
            kind = message["type"]
            if message.get("channel") is None:
                continue  # a pong
            channel = message["channel"].decode()
            if kind == "message":
                if self._handler is not None:
                    try:
                        self._handler(channel[prefix_length:], message["data"])
                    except Exception:
                        log.exception("fan-out handler failed for %s", channel)
            elif kind == "subscribe":
                waiter = self._confirm.pop(channel, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

    async def close(self) -> None:
        # redis-py can swallow a cancellation inside get_message, so the loops also check a flag.
        self._closing = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._listener, 2.0)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        self._handler = None
