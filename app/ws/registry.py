"""The worker's registry of local sockets: who follows which group, and the subscriptions that follow.

The worker subscribes a group's channel while it has at least one local socket following the group,
and a user's channel while it has at least one socket of that user. What arrives on those channels is
delivered by app/ws/fanout.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any

from app.broker import ACCESS_CHANNEL, Broker, group_channel, user_channel
from app.domain.events import Events
from app.ws.connection import Connection
from app.ws.presence import PresenceStore
from app.ws.protocol import Presence

log = logging.getLogger("huddle.ws")


class Registry:
    def __init__(self, broker: Broker, presence: PresenceStore, events: Events) -> None:
        self._broker = broker
        self._presence = presence
        self._events = events
        self.by_group: dict[int, set[Connection]] = defaultdict(set)
        self.by_user: dict[int, set[Connection]] = defaultdict(set)
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscribing: dict[int, asyncio.Future[None]] = {}  # group -> its subscription is confirmed
        self._stored_at_last_check: dict[int, int] = {}  # group -> the store's latest seq (`catch_up`)

    async def start(self) -> None:
        # In the background: a worker must start even while Redis is down (it subscribes on connect).
        self._spawn(self._broker.subscribe(ACCESS_CHANNEL))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- membership of sockets ---------------------------------------------------------------------

    async def add(self, connection: Connection) -> None:
        sockets = self.by_user[connection.user_id]
        sockets.add(connection)
        if len(sockets) == 1:
            await self._broker.subscribe(user_channel(connection.user_id))

    def follow_later(self, connection: Connection, group_id: int, last_seq: int | None) -> None:
        self._spawn(self.follow(connection, group_id, last_seq))

    async def follow(self, connection: Connection, group_id: int, last_seq: int | None) -> None:
        """Subscribe first, then replay: anything published after the store read is buffered."""
        if connection.close_code is not None or group_id in connection.feeds:
            return
        followers = self.by_group[group_id]
        first_here = not followers
        user_here = any(c.user_id == connection.user_id for c in followers)
        followers.add(connection)
        connection.expect(group_id)  # buffer live frames from the moment we subscribe
        if first_here:
            confirmed = self._subscribing[group_id] = asyncio.get_running_loop().create_future()
            try:
                await self._broker.subscribe(group_channel(group_id))
            finally:
                del self._subscribing[group_id]
                confirmed.set_result(None)
        elif (confirming := self._subscribing.get(group_id)) is not None:
            # Another socket's subscription is still unconfirmed: reading the store now could miss
            # what is published before Redis confirms it.
            await asyncio.shield(confirming)
        connection.follow(group_id, last_seq)
        if not user_here:
            self._spawn(self._went_online(group_id, connection.user_id))

    def left(self, connection: Connection, group_id: int) -> None:
        """A socket stopped following a group (removed, group deleted, or closing)."""
        followers = self.by_group.get(group_id)
        if followers is None or connection not in followers:
            return
        followers.discard(connection)
        if not followers:
            del self.by_group[group_id]
            self._spawn(self._broker.unsubscribe(group_channel(group_id)))
        if not any(c.user_id == connection.user_id for c in followers):
            self._spawn(self._went_offline(group_id, connection.user_id))

    async def _went_online(self, group_id: int, user_id: int) -> None:
        # Presence is best effort: a Redis outage must not stop a socket from following its group.
        try:
            if await self._presence.join(group_id, user_id):
                online = Presence(group_id=group_id, user_id=user_id, status="online")
                await self._events.to_group(group_id, online)
        except Exception as error:  # noqa: BLE001 -- the heartbeat re-registers the user later
            log.warning("presence join failed: %s", type(error).__name__)

    async def _went_offline(self, group_id: int, user_id: int) -> None:
        try:
            if await self._presence.leave(group_id, user_id):
                offline = Presence(group_id=group_id, user_id=user_id, status="offline")
                await self._events.to_group(group_id, offline)
        except Exception as error:  # noqa: BLE001 -- the entry expires on its own
            log.warning("presence leave failed: %s", type(error).__name__)

    async def remove(self, connection: Connection) -> None:
        for group_id in list(connection.feeds):
            connection.stop_following(group_id)
            self.left(connection, group_id)
        sockets = self.by_user.get(connection.user_id)
        if sockets is not None:
            sockets.discard(connection)
            if not sockets:
                del self.by_user[connection.user_id]
                await self._broker.unsubscribe(user_channel(connection.user_id))

    # -- upkeep ------------------------------------------------------------------------------------

    def resync_all(self) -> None:
        """After the broker reconnects: anything published meanwhile is fetched from the store, and
        grants are forgotten (a broadcast taking access away may have been missed)."""
        self._events.grants.clear()
        for group_id, connections in self.by_group.items():
            for connection in connections:
                feed = connection.feeds.get(group_id)
                if feed is not None:
                    connection.follow(group_id, feed.last_seq)

    def resync(self, channels: list[str]) -> None:
        """After some channels moved to another shard (a Redis Cluster failover or resharding): the
        groups among them re-read the store; grants are forgotten, as after a reconnect."""
        self._events.grants.clear()
        moved = set(channels)
        for group_id, connections in self.by_group.items():
            if group_channel(group_id) not in moved:
                continue
            for connection in connections:
                feed = connection.feeds.get(group_id)
                if feed is not None:
                    connection.follow(group_id, feed.last_seq)

    def catch_up(self, latest: dict[int, int]) -> int:
        """Safety net for a publish that never arrived (Redis unreachable from the publisher), called
        every upkeep pass with the store's latest seq per group: a live feed still behind what the
        store held at the *previous* pass replays the rest. Not behind `latest` itself: under load
        the store is always a little ahead of the sockets (committed, being published), and taking
        that for lost publishes sent hundreds of sockets to the store at once, holding their live
        frames meanwhile. Returns how many feeds replay."""
        stored_before, self._stored_at_last_check = self._stored_at_last_check, latest
        behind = 0
        for group_id, connections in self.by_group.items():
            newest = stored_before.get(group_id, 0)
            for connection in connections:
                feed = connection.feeds.get(group_id)
                if feed is not None and not feed.syncing and feed.last_seq < newest:
                    connection.follow(group_id, feed.last_seq)
                    behind += 1
        return behind

    def local_presence(self) -> list[tuple[int, int]]:
        return [(g, u) for g, conns in self.by_group.items() for u in {c.user_id for c in conns}]

    def close_all(self, code: int, reason: str) -> None:
        for sockets in self.by_user.values():
            for connection in sockets:
                connection.close(code, reason)

    def stats(self) -> dict[str, int]:
        sockets = sum(len(s) for s in self.by_user.values())
        return {
            "sockets": sockets,
            "users": len(self.by_user),
            "groups": len(self.by_group),
            "queued_frames": sum(c.queued for s in self.by_user.values() for c in s),
        }
