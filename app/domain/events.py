"""Publishing real-time events after a commit: encoded once, handed to the broker.

A publish that fails (Redis down) is logged and swallowed: the write it announces is committed, and
clients catch up by seq when they resume, so the request that made the change still succeeds.
"""

from __future__ import annotations

import logging

import msgspec

from app.ws.broker import Broker, group_channel, user_channel

log = logging.getLogger("huddle.events")
encoder = msgspec.json.Encoder()


class Events:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def to_group(self, group_id: int, event: msgspec.Struct) -> None:
        await self._publish(group_channel(group_id), event)

    async def to_user(self, user_id: int, event: msgspec.Struct) -> None:
        await self._publish(user_channel(user_id), event)

    async def _publish(self, channel: str, event: msgspec.Struct) -> None:
        try:
            await self._broker.publish(channel, encoder.encode(event))
        except Exception as error:  # noqa: BLE001 -- any broker failure: the state is already committed
            log.warning("publish to %s failed (%s); clients resume by seq", channel, type(error).__name__)
