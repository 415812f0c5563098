"""How one published event reaches every local socket.

1. A service commits a change, then publishes its event (app/ws/delivery.py): the frame is encoded
   once and wrapped in a one-line routing header (app/ws/envelope.py), and the broker carries it to
   every worker subscribed to the group's channel.
2. `Fanout.on_payload` (here) reads the header only, decodes the frame to text once per worker, and
   hands the same string to every local socket following the group.
3. `Connection.deliver` (app/ws/connection.py) keeps the group's `seq` order per socket: the next seq
   goes out, a duplicate is dropped, a gap waits briefly and is then filled from the store.
4. `Outbox.push` (here) queues the text on the socket; one write is in flight per socket, and when it
   completes the next write carries the queue: one event per frame on `huddle.v1` and the seed path,
   every queued event joined by newlines (NDJSON) on `huddle.v2`. A lone event is written at once.
   A socket whose queue reaches its bound is closed (1013) and resumes by seq; it never slows others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import msgspec

from app.broker import ACCESS_CHANNEL
from app.domain.frames import GroupJoined, SessionEnded
from app.domain.grants import Grants
from app.observability import metrics
from app.ws.envelope import Kind, unpack

if TYPE_CHECKING:
    from app.ws.registry import Registry

log = logging.getLogger("huddle.ws")
encoder = msgspec.json.Encoder()
_control = msgspec.json.Decoder(SessionEnded | GroupJoined)
# A coalesced frame stops growing at this many characters (an event larger than that goes alone):
# a reader's buffer and the latency of the events behind it stay bounded.
FRAME_CHARS = 64 * 1024


class CloseCode(IntEnum):
    """Every code a socket is closed with, one name a code; docs/protocol.md (*Closing*) and the
    AsyncAPI document (app/ws/asyncapi.py) say what each means to a client. The SPA's copy
    (app/static/js/realtime.js) must agree: tests/unit/test_close_codes.py checks it."""

    NORMAL = 1000
    ORIGIN = 1008  # a foreign Origin: closed before the handshake completes, which the client sees as a 403
    TOO_BIG = 1009
    INTERNAL = 1011
    RESTART = 1012  # server shutting down: reconnect (elsewhere)
    TRY_AGAIN_LATER = 1013  # too slow a consumer, or the database down or saturated: resume by seq
    BAD_URL = 4400  # a seed URL no request could satisfy (a malformed last_seq)
    UNAUTHORIZED = 4401  # bad credentials, or the session ended (logout, password change)
    NOT_FOUND = 4404  # not a member of that group (or no such group)
    IDLE = 4408
    TOO_MANY_SOCKETS = 4409  # the user holds WS_SOCKETS_PER_USER sockets already
    FLOOD = 4429


class Fanout:
    """The broker's handler on this worker: group payloads to the group's sockets, user payloads
    (sessions ended, groups joined) to the user's sockets, access broadcasts to the grant cache."""

    def __init__(self, registry: Registry, grants: Grants) -> None:
        self._registry = registry
        self._grants = grants
        self.delivered = 0

    def on_payload(self, channel: str, payload: bytes) -> None:
        if channel == ACCESS_CHANNEL:
            self._grants.clear()
            return
        seq, kind, subject, published, frame = unpack(payload)
        scope, _, key = channel.partition(":")
        if scope == "u":
            self._control(int(key), frame)
            return
        group_id = int(key)
        connections = self._registry.by_group.get(group_id)
        if not connections:
            return
        text = frame.decode()
        streamed: str | None = None  # the same event in SSE form, made once if a stream follows
        # A copy: a `leave` delivered here makes its socket stop following, which edits the set.
        for connection in list(connections):
            if connection.streams:
                if streamed is None:
                    streamed = connection.wrap(text)
                connection.deliver(group_id, seq, kind, subject, streamed)
            else:
                connection.deliver(group_id, seq, kind, subject, text)
        self.delivered += len(connections)
        metrics.observe_fanout_delay(time.time() - published)
        if kind is Kind.GROUP_DELETED:
            for connection in list(connections):
                connection.stop_following(group_id)
                self._registry.left(connection, group_id)

    def _control(self, user_id: int, frame: bytes) -> None:
        try:
            event = _control.decode(frame)
        except msgspec.DecodeError:
            log.warning("ignored a malformed control event for user %s", user_id)
            return
        for connection in list(self._registry.by_user.get(user_id, ())):
            if isinstance(event, SessionEnded):
                if event.keep_session == connection.session_id:
                    continue
                if event.session_id in (None, connection.session_id):
                    connection.close(CloseCode.UNAUTHORIZED, f"session ended: {event.reason}")
            elif connection.follows_all:
                self._registry.follow_later(connection, event.group_id, event.from_seq)


class Outbox:
    """One socket's (or event stream's) bounded send queue, counted in events, written one frame at a
    time. A WebSocket writes text frames; an event stream (app/ws/sse.py) overrides `wrap`,
    `_next_frame` and `_message` to write SSE chunks of an HTTP response.

    No writer task: the next frame is handed to the server from the previous write's done callback
    (a write the server took at once completes on the loop's next turn, with every other such write,
    through one callback). One write at a time keeps the order (the server runs concurrent writes in
    any order), and a callback costs the loop far less than resuming a task. Everything runs on the
    worker's event loop; `push` never awaits.
    """

    streams = False  # an event stream: it queues events in SSE form (`wrap`)

    def __init__(
        self, send: Callable[[dict[str, Any]], Awaitable[Any]], *, queue_size: int, coalesce: bool
    ) -> None:
        self._send = send
        self._queue: deque[str] = deque()
        self._queue_size = queue_size
        self._coalesce = coalesce  # huddle.v2: a frame carries every event queued behind a write
        self.started = False  # events queue until the handshake completes
        self._writing = False  # the server is writing a frame
        self._failed = False  # a write failed: the client is gone
        self._settled: asyncio.Future[None] | None = None  # `finish` waits for the write to end
        self._drained: asyncio.Future[None] | None = None  # a replay waits for room in the queue
        self.close_code: int | None = None
        self.close_reason = ""
        self._closed: asyncio.Future[None] | None = None  # `when_closed`, made on first ask

    def push(self, text: str, *, droppable: bool = False) -> None:
        if self.close_code is not None:
            return
        queue = self._queue
        if not self._writing and self.started and not queue and not self.streams:
            self._write(text)
            return
        queued = len(queue)
        if droppable and queued >= self._queue_size // 2:
            return  # typing goes first under backpressure
        if queued >= self._queue_size:
            self.close(CloseCode.TRY_AGAIN_LATER, "too slow: reconnect and resume")
            metrics.slow_consumer_disconnected()
            return
        queue.append(text)
        if not self._writing and self.started and queued == 0:  # an idle stream: write it now
            self._write(self._next_frame())

    def wrap(self, text: str) -> str:
        """An event's JSON as this transport queues it."""
        return text

    def push_frame(self, frame: msgspec.Struct) -> None:
        self.push(self.wrap(encoder.encode(frame).decode()))

    def start(self) -> None:
        """The handshake is complete: send what queued meanwhile, then every event as it comes."""
        self.started = True
        if self._queue and not self._writing and self.close_code is None:
            self._write(self._next_frame())

    def _next_frame(self) -> str:
        """The queue's head, with every event behind it that fits when coalescing. Frames are JSON
        objects encoded without raw newlines, so a newline always separates two of them."""
        queue = self._queue
        text = queue.popleft()
        if not self._coalesce or not queue:
            return text
        parts = [text]
        size = len(text)
        while queue and size + len(queue[0]) < FRAME_CHARS:
            text = queue.popleft()
            parts.append(text)
            size += len(text) + 1
        return "\n".join(parts) if len(parts) > 1 else parts[0]

    def _write(self, text: str) -> None:
        self._writing = True
        try:
            sent = self._send(self._message(text))
            writing: asyncio.Future[Any] | None
            if asyncio.isfuture(sent):  # every socket frame on Granian: taken as it is
                writing = sent
            elif asyncio.iscoroutine(sent):
                writing = asyncio.ensure_future(sent)
            elif (writing := _unless_done(sent)) is None:
                # An HTTP chunk Granian's channel took at once: the write is done, and completes on
                # the loop's next turn as a future's would (what queues meanwhile goes out together),
                # with every other write done at once in this turn: one callback for all of them,
                # where a task each cost ~4 us a write.
                _done_now.add(self)
                return
        except Exception:  # noqa: BLE001 -- the server refused the frame: the client is gone
            self._writing = False
            self._lost()
            return
        writing.add_done_callback(self._written)

    def _message(self, frame: str) -> dict[str, Any]:
        return {"type": "websocket.send", "text": frame}

    def _written(self, writing: asyncio.Future[Any] | None) -> None:
        self._writing = False
        if writing is not None and (writing.cancelled() or writing.exception() is not None):
            self._lost()
            return
        metrics.frames_sent()
        queue = self._queue
        if queue and self.close_code is None:
            self._write(self._next_frame())
            if self._drained is not None and len(queue) <= self._queue_size // 2:
                _resolve(self._drained)
        else:
            _resolve(self._settled)

    def _lost(self) -> None:
        self._failed = True
        self.close(CloseCode.NORMAL)
        _resolve(self._settled)

    def close(self, code: int, reason: str = "") -> None:
        """Ask the socket to close; the endpoint sends the close frame and cleans up."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self._queue.clear()
            _resolve(self._closed)
            _resolve(self._drained)

    def when_closed(self) -> asyncio.Future[None]:
        """Done once `close` is called. A plain future, not an Event waited on by a task: an idle
        connection's memory is mostly what it waits with."""
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
            if self.close_code is not None:
                self._closed.set_result(None)
        return self._closed

    async def finish(self, wait: float) -> bool:
        """Stop sending, letting the frame being written finish (cancelling a write mid-frame leaves
        the socket unable to send a close frame); True when the socket can take a close frame."""
        self.close(CloseCode.NORMAL)  # no-op when a close code is already set
        if self._writing:
            self._settled = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._settled, wait)
            except TimeoutError:
                return False
        return self.started and not self._failed

    async def room(self) -> None:
        """Replays wait for the queue to drain instead of overflowing it."""
        while len(self._queue) > self._queue_size // 2 and self.close_code is None:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained
            self._drained = None

    @property
    def queued(self) -> int:
        return len(self._queue)


class _DoneNow:
    """Outboxes whose write completed as it was made, completed together on the loop's next turn."""

    def __init__(self) -> None:
        self._due: list[Outbox] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, outbox: Outbox) -> None:
        loop = asyncio.get_running_loop()
        if not self._due or loop is not self._loop:  # a test's loop may have ended with some due
            self._due, self._loop = [], loop
            loop.call_soon(self._complete)
        self._due.append(outbox)

    def _complete(self) -> None:
        due, self._due = self._due, []
        for outbox in due:
            outbox._written(None)


_done_now = _DoneNow()


def _unless_done(awaitable: Awaitable[Any]) -> asyncio.Future[Any] | None:
    """None when awaiting this returns at once; else a task that finishes awaiting it."""
    step = awaitable.__await__()
    try:
        waiting = next(step)
    except StopIteration:
        return None
    return asyncio.ensure_future(_resume(step, waiting))


async def _resume(step: Generator[Any, None, Any], waiting: Any) -> None:
    """Await the rest of an awaitable whose first step was taken, as a task would have: a future
    it yielded is waited for (and unmarked as the task protocol does), then the awaitable resumed."""
    while True:
        if waiting is None:
            await asyncio.sleep(0)
        else:
            waiting._asyncio_future_blocking = False
            await waiting
        try:
            waiting = step.send(None)
        except StopIteration:
            return


def _resolve(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
