"""The worker's registry of local sockets, and the broker handler that fans payloads out to them.

The worker subscribes a group's channel while it has at least one local socket following the group,
and a user's channel while it has at least one socket of that user. Each payload's frame is decoded
to text once per worker and the same string is queued on every socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any

import msgspec

from app.domain.events import Events
from app.observability import metrics
from app.ws.broker import ACCESS_CHANNEL, Broker, group_channel, user_channel
from app.ws.connection import CloseCode, Connection
from app.ws.envelope import Kind, unpack
from app.ws.presence import PresenceStore
from app.ws.protocol import GroupJoined, Presence, SessionEnded

log = logging.getLogger("huddle.ws")
_control = msgspec.json.Decoder(SessionEnded | GroupJoined)


class Registry:
    def __init__(self, broker: Broker, presence: PresenceStore, events: Events) -> None:
        self._broker = broker
        self._presence = presence
        self._events = events
        self.by_group: dict[int, set[Connection]] = defaultdict(set)
        self.by_user: dict[int, set[Connection]] = defaultdict(set)
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscribing: dict[int, asyncio.Future[None]] = {}  # group -> its subscription is confirmed
        self.delivered = 0

    async def start(self) -> None:
        await self._broker.start(self.on_payload)
        # In the background: a worker must start even while Redis is down (it subscribes on connect).
        self._spawn(self._broker.subscribe(ACCESS_CHANNEL))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- broker -> sockets -------------------------------------------------------------------------

    def on_payload(self, channel: str, payload: bytes) -> None:
        if channel == ACCESS_CHANNEL:
            self._events.grants.clear()
            return
        seq, kind, subject, published, frame = unpack(payload)
        scope, _, key = channel.partition(":")
        if scope == "u":
            self._control(int(key), frame)
            return
        group_id = int(key)
        connections = self.by_group.get(group_id)
        if not connections:
            return
        text = frame.decode()
        for connection in list(connections):
            connection.deliver(group_id, seq, kind, subject, text)
        self.delivered += len(connections)
        metrics.observe_fanout_delay(time.time() - published)
        if kind is Kind.GROUP_DELETED:
            for connection in list(connections):
                connection.stop_following(group_id)
                self.left(connection, group_id)

    def _control(self, user_id: int, frame: bytes) -> None:
        try:
            event = _control.decode(frame)
        except msgspec.DecodeError:
            log.warning("ignored a malformed control event for user %s", user_id)
            return
        for connection in list(self.by_user.get(user_id, ())):
            if isinstance(event, SessionEnded):
                if event.keep_session == connection.session_id:
                    continue
                if event.session_id in (None, connection.session_id):
                    connection.close(CloseCode.UNAUTHORIZED, f"session ended: {event.reason}")
            elif connection.follows_all:
                self._spawn(self.follow(connection, event.group_id, event.from_seq))

    # -- membership of sockets ---------------------------------------------------------------------

    async def add(self, connection: Connection) -> None:
        sockets = self.by_user[connection.user_id]
        sockets.add(connection)
        if len(sockets) == 1:
            await self._broker.subscribe(user_channel(connection.user_id))

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
        stream grants are forgotten (a broadcast taking access away may have been missed)."""
        self._events.grants.clear()
        for group_id, connections in self.by_group.items():
            for connection in connections:
                feed = connection.feeds.get(group_id)
                if feed is not None:
                    connection.follow(group_id, feed.last_seq)

    def catch_up(self, latest: dict[int, int]) -> int:
        """Safety net for a publish that never arrived (Redis unreachable from the publisher): any
        live feed behind the store's latest seq replays the rest. Returns how many feeds did."""
        behind = 0
        for group_id, connections in self.by_group.items():
            newest = latest.get(group_id, 0)
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
            "queued_frames": sum(c.stats()["queued"] for s in self.by_user.values() for c in s),
            "delivered_frames": self.delivered,
        }
