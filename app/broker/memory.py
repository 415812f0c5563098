"""In-process broker for the single-worker embedded mode: publish calls the handler directly."""

from __future__ import annotations

from app.broker import Handler


class MemoryBroker:
    def __init__(self) -> None:
        self._handler: Handler | None = None
        self._channels: set[str] = set()

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def publish(self, channel: str, *payloads: bytes) -> None:
        for payload in payloads:
            if self._handler is not None and channel in self._channels:
                self._handler(channel, payload)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def close(self) -> None:
        self._handler = None
        self._channels.clear()
