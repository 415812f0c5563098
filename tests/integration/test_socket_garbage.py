"""A closed socket is freed by reference counting alone: nothing of it waits for the cycle collector.

The workers collect the oldest generation rarely (app/server/collector.py), so objects a closed socket
leaves in reference cycles (its connection, its user, Litestar's WebSocket and scope, the server's
protocol object) pile up with every socket that comes and goes, and the full collection that finally
frees them walks them all. Here the app is driven in-process through raw ASGI with the collector off;
then a collection with DEBUG_SAVEALL shows what only the collector would have freed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect

from app.ws.connection import Connection
from app.ws.protocol import FRAME_MAX_BYTES
from tests.conftest import AppClient
from tests.helpers import register
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio


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
    socket = AsgiWebSocket(
        client.app, f"/ws/group/{created.json()['id']}", f"token={owner.access_token}&events=all"
    )
    async with socket:  # leaving the block is the client leaving
        await socket.send({"type": "message", "text": "hello", "client_msg_id": "m1"})
        await socket.until(lambda frame: frame["type"] == "ack")
        if ending == "the server closes it":
            await socket.send_text("x" * (FRAME_MAX_BYTES + 1))
            assert await socket.close_code() == 1009
    del socket
    assert left_for_the_collector() == []
