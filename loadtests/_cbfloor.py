import asyncio, os
from collections import deque
from typing import Any
from redis.asyncio import Redis
from loadtests.bare_ws import accepted
CHANNEL = os.environ.get("BARE_CHANNEL", "bare-fanout")

class Socket:
    __slots__ = ("send", "queue", "busy", "_done")
    def __init__(self, send):
        self.send = send
        self.queue = deque()
        self.busy = False
        self._done = self.done
    def push(self, text):
        if self.busy:
            self.queue.append(text)
        else:
            self.busy = True
            self.send({"type": "websocket.send", "text": text}).add_done_callback(self._done)
    def done(self, f):
        if self.queue:
            self.send({"type": "websocket.send", "text": self.queue.popleft()}).add_done_callback(self._done)
        else:
            self.busy = False

sockets = set(); state = {}
async def relay(redis):
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        async for item in pubsub.listen():
            if item["type"] == "message":
                text = item["data"].decode()
                for socket in sockets:
                    socket.push(text)

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["redis"] = Redis.from_url(os.environ["REDIS_URL"])
                state["relay"] = asyncio.get_running_loop().create_task(relay(state["redis"]))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                state["relay"].cancel()
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
