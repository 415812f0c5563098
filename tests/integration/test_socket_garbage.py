"""A closed socket is freed by reference counting alone: nothing of it waits for the cycle collector.

The workers collect the oldest generation rarely (app/server/collector.py), so objects a closed socket
leaves in reference cycles (its connection, its user, Litestar's WebSocket and scope, the server's
protocol object) pile up with every socket that comes and goes, and the full collection that finally
frees them walks them all. Here the app is driven in-process through raw ASGI with the collector off;
then a collection with DEBUG_SAVEALL shows what only the collector would have freed.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect

from app.ws.connection import Connection
from app.ws.protocol import FRAME_MAX_BYTES
from tests.conftest import AppClient
from tests.helpers import register

pytestmark = pytest.mark.anyio


class Peer:
    """The client's side of one ASGI WebSocket: frames in through `receive`, out through `send`."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.inbox.put_nowait({"type": "websocket.connect"})
        self.sent: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self.arrived.set()

    async def until(self, kind: str) -> dict[str, Any]:
        async with asyncio.timeout(10):
            while True:
                for message in self.sent:
                    if message["type"] == kind:
                        return message
                self.arrived.clear()
                await self.arrived.wait()


def scope(path: str, token: str) -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": f"token={token}".encode(),
        "headers": [(b"host", b"testserver")],
        "subprotocols": [],
        "state": {},
    }


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def left_for_the_collector() -> list[str]:
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    gc.set_debug(0)
    kinds = (Connection, WebSocket, WebSocketDisconnect)  # the socket's own, not the test's
    found = sorted({type(o).__name__ for o in gc.garbage if isinstance(o, kinds)})
    gc.garbage.clear()
    return found


@pytest.mark.parametrize("ending", ["the client leaves", "the server closes it"])
async def test_a_closed_socket_leaves_nothing_for_the_cycle_collector(
    client: AppClient, collector_off: None, ending: str
) -> None:
    owner = await register(client)
    created = await client.post("/groups", json={"name": "lab"}, headers=owner.headers)
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]
    peer = Peer()
    serving = asyncio.ensure_future(
        client.app(scope(f"/ws/group/{group_id}", owner.access_token), peer.receive, peer.send)
    )
    await peer.until("websocket.accept")
    text = json.dumps({"type": "message", "text": "hello", "client_msg_id": "m1"})
    peer.inbox.put_nowait({"type": "websocket.receive", "text": text})
    async with asyncio.timeout(10):
        while not any('"ack"' in m.get("text", "") for m in peer.sent):
            peer.arrived.clear()
            await peer.arrived.wait()
    if ending == "the client leaves":
        peer.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        expected_close = None
    else:
        peer.inbox.put_nowait({"type": "websocket.receive", "text": "x" * (FRAME_MAX_BYTES + 1)})
        expected_close = 1009
    await asyncio.wait_for(serving, 10)
    closes = [m["code"] for m in peer.sent if m["type"] == "websocket.close"]
    assert closes == ([] if expected_close is None else [expected_close])
    del serving
    assert left_for_the_collector() == []
