"""Delivering the domain's events: encoded once, wrapped in a routing envelope, handed to the broker.

A publish that fails (Redis down) is logged and swallowed: the write it announces is committed, and
clients catch up by seq when they resume, so the request that made the change still succeeds.
"""

from __future__ import annotations

import logging

import msgspec

from app.broker import ACCESS_CHANNEL, Broker, group_channel, user_channel
from app.domain.grants import Grants
from app.domain.groups.schemas import GroupDeleted
from app.domain.media.schemas import VideoDeleted, VideoUpdated
from app.domain.messages.schemas import ChatMessage, MemberAdded, MemberLeft, VideoControl
from app.ws.envelope import Kind, pack
from app.ws.protocol import Typing

log = logging.getLogger("huddle.events")
encoder = msgspec.json.Encoder()
# Group events after which someone may no longer watch a video (or a grant names it wrongly). A member
# removed or leaving clears the grants when that commits (GroupService), before the `leave` message.
REVOKING = (GroupDeleted, VideoDeleted, VideoUpdated)


def envelope(event: msgspec.Struct) -> bytes:
    frame = encoder.encode(event)
    if isinstance(event, ChatMessage | MemberAdded | VideoControl):
        return pack(frame, event.seq, Kind.SEQUENCED)
    if isinstance(event, MemberLeft):
        return pack(frame, event.seq, Kind.LEFT, event.user_id or 0)
    if isinstance(event, Typing):
        return pack(frame, kind=Kind.TYPING)
    if isinstance(event, GroupDeleted):
        return pack(frame, kind=Kind.GROUP_DELETED)
    return pack(frame)


class BrokerEvents:
    """The `Events` port (app/domain/events.py) over the broker: one channel a group, one a user."""

    def __init__(self, broker: Broker, grants: Grants) -> None:
        self._broker = broker
        self.grants = grants  # what this worker remembers it was allowed (app/domain/grants.py)

    async def to_group(self, group_id: int, *events: msgspec.Struct) -> None:
        """Publish in the order given (the Redis broker sends them in one pipelined round trip)."""
        if any(isinstance(event, REVOKING) for event in events):
            await self.access_changed()
        await self._publish(group_channel(group_id), *(envelope(event) for event in events))

    async def access_changed(self) -> None:
        """Every worker forgets its grants: this one now, the others on the broadcast."""
        self.grants.clear()
        await self._publish(ACCESS_CHANNEL, b"")

    async def to_user(self, user_id: int, event: msgspec.Struct) -> None:
        """Control events for one user's sockets, wherever they are connected."""
        await self._publish(user_channel(user_id), pack(encoder.encode(event), kind=Kind.CONTROL))

    async def _publish(self, channel: str, *payloads: bytes) -> None:
        try:
            await self._broker.publish(channel, *payloads)
        except Exception as error:  # noqa: BLE001 -- any broker failure: the state is already committed
            log.warning("publish to %s failed (%s); clients resume by seq", channel, type(error).__name__)
