"""The floor for idle-connection memory: a plain ASGI app that only accepts WebSockets and reads until
the client leaves, or, at `/events`, answers an event stream with one chunk and holds it until the
client leaves. Served by Granian exactly like Huddle (`granian --interface asgi --workers 2
loadtests.bare_ws:app`); other HTTP paths get a 200 for health checks.
"""

from __future__ import annotations

from typing import Any


async def accepted(scope: dict[str, Any], receive: Any, send: Any) -> bool:
    """Answer an HTTP request (200, for health checks) or accept a WebSocket; True for an open socket."""
    if scope["type"] == "http" and scope["path"] == "/events":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"event: subscribed\ndata: {}\n\n", "more_body": True}
        )
        while (await receive())["type"] != "http.disconnect":
            pass
        return False
    if scope["type"] == "http":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})
        return False
    if scope["type"] != "websocket":
        return False
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    return True


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if not await accepted(scope, receive, send):
        return
    while (await receive())["type"] != "websocket.disconnect":
        pass
