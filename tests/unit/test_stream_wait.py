"""An idle event stream between its events: a comment line every heartbeat so proxies keep it open,
and the end when either side goes, with nothing left waiting (app/ws/sse.py `wait_for_end`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.ws import sse
from app.ws.fanout import Outbox

pytestmark = pytest.mark.anyio
HEARTBEAT = ": keep-alive\n\n"


class Client:
    """The server side of one stream: what was written, and a client that leaves on cue."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.gone = asyncio.Event()
        self.outbox = Outbox(self.send, queue_size=8, coalesce=True)
        self.outbox.start()

    async def send(self, message: dict[str, Any]) -> None:
        self.written.append(message["text"])

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}


async def until(done: Any, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not done():
            await asyncio.sleep(0.01)


async def test_an_idle_stream_beats_until_the_client_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "HEARTBEAT_SECONDS", 0.05)
    client = Client()
    waiting = asyncio.create_task(sse.wait_for_end(client.outbox, client.receive))  # type: ignore[arg-type]
    await until(lambda: client.written.count(HEARTBEAT) >= 2)
    client.gone.set()
    await asyncio.wait_for(waiting, 1)
    assert client.outbox.close_code == 1000
    beats = len(client.written)
    await asyncio.sleep(0.12)
    assert len(client.written) == beats  # nothing is written once the stream has ended


async def test_a_stream_the_server_closes_ends_with_its_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "HEARTBEAT_SECONDS", 0.05)
    client = Client()
    waiting = asyncio.create_task(sse.wait_for_end(client.outbox, client.receive))  # type: ignore[arg-type]
    await until(lambda: HEARTBEAT in client.written)
    client.outbox.close(1013, "too slow: reconnect and resume")
    await asyncio.wait_for(waiting, 1)
    assert client.outbox.close_code == 1013  # not overwritten by the client's side
    beats = len(client.written)
    await asyncio.sleep(0.12)
    assert len(client.written) == beats
