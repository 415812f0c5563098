"""The floor for fan-out on Granian: a plain ASGI app that relays every text frame it receives to every
socket on every worker through Redis pub/sub, and does nothing else (no authentication, database,
history, presence or ordering). Each socket has a queue written one frame at a time, as in Huddle.
`make bench` serves it exactly like Huddle (`granian --interface asgi --workers 2`) and drives it with
the same fan-out client, so Huddle's own cost shows as the distance to this app in the same run.

With BARE_COALESCE=1 a write carries every frame queued while the previous write was in flight, joined
by newlines, as Huddle's `huddle.v2` does: the floor for Huddle's headline row.

Environment: REDIS_URL, BARE_CHANNEL (one per run, so runs never hear each other), BARE_COALESCE.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import Any

from redis.asyncio import Redis

from loadtests.bare_ws import accepted

CHANNEL = os.environ.get("BARE_CHANNEL", "bare-fanout")
COALESCE = os.environ.get("BARE_COALESCE") == "1"


class Socket:
    """One frame in flight at a time; the next one goes from the previous write's done callback."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.queue: deque[str] = deque()
        self.writing = False

    def push(self, text: str) -> None:
        if self.writing:
            self.queue.append(text)
        else:
            self.write(text)

    def write(self, text: str) -> None:
        self.writing = True
        asyncio.ensure_future(self.send({"type": "websocket.send", "text": text})).add_done_callback(
            self.written
        )

    def written(self, sent: asyncio.Future[None]) -> None:
        self.writing = False
        if self.queue and not sent.cancelled() and sent.exception() is None:
            if COALESCE:
                text = "\n".join(self.queue)
                self.queue.clear()
                self.write(text)
            else:
                self.write(self.queue.popleft())


sockets: set[Socket] = set()
state: dict[str, Any] = {}


async def relay(redis: Redis) -> None:
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        async for item in pubsub.listen():
            if item["type"] == "message":
                text = item["data"].decode()
                for socket in sockets:
                    socket.push(text)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["redis"] = Redis.from_url(os.environ["REDIS_URL"])
                state["relay"] = asyncio.get_running_loop().create_task(relay(state["redis"]))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                state["relay"].cancel()
                await state["redis"].aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if not await accepted(scope, receive, send):
        return
    socket = Socket(send)
    sockets.add(socket)
    try:
        while (message := await receive())["type"] != "websocket.disconnect":
            if text := message.get("text"):
                await state["redis"].publish(CHANNEL, text)
    finally:
        sockets.discard(socket)
        socket.queue.clear()
