"""Server-Sent Events: `GET /api/v1/events`, what `/ws` delivers, as one long HTTP response.

A stream is a Connection whose outbox writes chunks of an HTTP response instead of WebSocket frames:
the registry, the fan-out, each group's order, resume and the queue bound are the socket's own code
(app/ws/fanout.py, app/ws/connection.py), and presence counts a stream like a socket. It follows
every group of the user, as `/ws` after a `resume` of all of them.

    event: message
    data: {"type":"message","seq":42,...}

    id: 12:42,15:7

Events are the socket's frames, named by their `type`. Every write ends with an `id:` line, the
position reached in each group (`<group>:<seq>`, comma separated): a browser sends the last one back
as `Last-Event-ID` when it reconnects (other clients may pass `?cursor=`), and every group resumes
exactly once from there. An idle stream gets a comment line every HEARTBEAT_SECONDS so proxies keep
it open. When the server ends a stream it says why first: `event: close` with the socket's close
code and reason (1013: resume; 4401: sign in again; 1012: the server restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from typing import TYPE_CHECKING, Any

import msgspec

from app.domain.ids import MAX_ID
from app.errors import BadRequest
from app.ws.connection import Connection
from app.ws.protocol import StreamClosed

if TYPE_CHECKING:
    from app.domain.accounts.services import Principal
    from app.ws.gateway import Gateway

HEARTBEAT_SECONDS = 20.0
RETRY_MS = (1000, 3000)  # a reconnect delay with jitter, so a restart does not bring every client at once
CURSOR_MAX_CHARS = 64 * 1024
CURSOR_PATTERN = r"^\d{1,19}:\d{1,19}(,\d{1,19}:\d{1,19})*$"
_CURSOR = re.compile(CURSOR_PATTERN)
_TYPED = '{"type":"'


def sse_event(text: str) -> str:
    """A frame's JSON as an SSE event named by its type (msgspec writes the tag first). JSON text
    holds no raw newline, so one `data:` line carries it."""
    if text.startswith(_TYPED):
        end = text.find('"', len(_TYPED))
        return f"event: {text[len(_TYPED) : end]}\ndata: {text}\n\n"
    return f"data: {text}\n\n"


def read_cursor(text: str | None) -> dict[int, int]:
    """`12:42,15:7` -> {12: 42, 15: 7}; 400 for anything else."""
    if not text:
        return {}
    if len(text) > CURSOR_MAX_CHARS or not _CURSOR.match(text):
        raise BadRequest("Invalid cursor: expected group:seq pairs separated by commas")
    positions = {}
    for pair in text.split(","):
        group, seq = (int(part) for part in pair.split(":"))
        if not (0 < group <= MAX_ID and 0 <= seq <= MAX_ID):
            raise BadRequest("Invalid cursor: a group or seq is out of range")
        positions[group] = seq
    return positions


class StreamConnection(Connection):
    """A Connection written as SSE: a write carries every queued event (a stream has no frames to
    keep small) and ends with the cursor of what it carried."""

    streams = True

    def wrap(self, text: str) -> str:
        return sse_event(text)

    def cursor(self) -> str:
        # Groups never sent anything are left out: on resume they start at the latest messages.
        return ",".join(f"{group}:{feed.last_seq}" for group, feed in self.feeds.items() if feed.last_seq)

    def _next_frame(self) -> str:
        # Every sequenced event's seq is recorded before it is queued (Connection._send_sequenced),
        # so once the queue is taken whole the cursor names exactly what this write carries.
        # Emptied by popleft, not clear(): clear() gives the deque a new block each time, and the
        # deque keeps the old ones for reuse, ~0.5 KiB a write that an idle stream would hold on to.
        queue = self._queue
        parts = [queue.popleft() for _ in range(len(queue))]
        if cursor := self.cursor():
            parts.append(f"id: {cursor}\n\n")
        return "".join(parts)

    def _message(self, frame: str) -> dict[str, Any]:
        return {"type": "http.response.body", "body": frame.encode(), "more_body": True}


class EventStream:
    """The ASGI response of `GET /api/v1/events`, made once the request is authorized."""

    def __init__(
        self,
        gateway: Gateway,
        principal: Principal,
        groups: list[int],
        positions: dict[int, int],
        connection_id: int,
    ) -> None:
        self.gateway, self.principal, self.groups = gateway, principal, groups
        self.positions, self.connection_id = positions, connection_id

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache, no-transform"),
                    (b"x-accel-buffering", b"no"),  # nginx: pass each chunk on at once
                ],
            }
        )
        await self.gateway.stream(self, scope, receive, send)

    def first_chunk(self) -> str:
        return f"retry: {random.randint(*RETRY_MS)}\n\n"  # noqa: S311 -- jitter, not a secret


async def wait_for_end(connection: Connection, receive: Any) -> None:
    """Until the client goes (`http.disconnect`) or the server closes the stream, with a comment line
    every HEARTBEAT_SECONDS so proxies keep it open. Callbacks and one future rather than tasks and
    `asyncio.wait`: thousands of idle streams wait here at once, each holding whatever it waits with."""
    loop = asyncio.get_running_loop()
    reading: asyncio.Future[Any] | None = None
    beating: asyncio.TimerHandle | None = None

    def listen() -> None:
        nonlocal reading
        reading = asyncio.ensure_future(receive())
        reading.add_done_callback(received)

    def received(done: asyncio.Future[Any]) -> None:
        if done.cancelled() or connection.close_code is not None:
            return
        if done.exception() is None and done.result().get("type") != "http.disconnect":
            listen()  # a request body: the stream ignores it
            return
        connection.close(1000)

    def beat() -> None:
        nonlocal beating
        connection.push(": keep-alive\n\n")
        beating = loop.call_later(HEARTBEAT_SECONDS, beat)

    beating = loop.call_later(HEARTBEAT_SECONDS, beat)
    listen()
    try:
        await connection.when_closed()
    finally:
        beating.cancel()
        if reading is not None:
            reading.cancel()


def closing_chunk(code: int, reason: str) -> bytes:
    return sse_event(msgspec.json.encode(StreamClosed(code=code, reason=reason)).decode()).encode()


async def end(connection: Connection, send: Any, wait: float) -> None:
    """Say why the server ended the stream (a client that left hears nothing), then end it."""
    code = connection.close_code or 1000
    # A client that stopped reading cannot take the last chunks either: bound the wait, then the
    # server drops the connection.
    with contextlib.suppress(Exception):  # the client may be gone
        async with asyncio.timeout(wait):
            if await connection.finish(wait) and code != 1000:
                closing = {"type": "http.response.body", "body": closing_chunk(code, connection.close_reason)}
                await send(closing | {"more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
