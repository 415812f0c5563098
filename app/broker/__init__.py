"""The broker port: payloads published on a channel reach every worker subscribed to it.

Payloads are already-encoded frames (bytes), encoded once by the publisher. A worker subscribes a
channel only while it has local sockets that need it, and hands every payload to one handler, which
fans it out to those sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Handler = Callable[[str, bytes], None]


# Every worker listens here: access was taken away somewhere (app/domain/grants.py).
ACCESS_CHANNEL = "access"


def group_channel(group_id: int) -> str:
    return f"g:{group_id}"


def user_channel(user_id: int) -> str:
    return f"u:{user_id}"


class Broker(Protocol):
    async def start(self, handler: Handler) -> None:
        """Begin delivering payloads of subscribed channels to `handler`."""
        ...

    async def publish(self, channel: str, *payloads: bytes) -> None:
        """Publish the payloads on the channel, in order."""
        ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def close(self) -> None: ...
