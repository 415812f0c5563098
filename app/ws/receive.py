"""Reading client frames: one msgspec decoder over the tagged union, a per-user frame rate limit, and
refused or failed frames answered as error frames (the socket lives on)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

import msgspec

from app.errors import DEPENDENCY_DOWN, AppError
from app.web import bodies
from app.ws.connection import Connection
from app.ws.protocol import ClientFrame, ErrorFrame, SendFrame

log = logging.getLogger("huddle.ws")
UNAVAILABLE = "A backing service is unavailable; retry shortly"
_decoder = msgspec.json.Decoder(ClientFrame)
_untyped_send = msgspec.json.Decoder(SendFrame)  # the seed's tests send {"text": ...} without a type


class FrameLimiter:
    """Token bucket per user and worker: `rate` frames a second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[int, tuple[float, float]] = {}

    def allow(self, user_id: int) -> bool:
        now = self.clock()
        tokens, stamp = self._buckets.get(user_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        allowed = tokens >= 1
        self._buckets[user_id] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > 100_000:
            self._buckets.clear()  # bounded memory; a refill is the worst that happens
        return allowed

    def calm(self, user_id: int) -> bool:
        """Half the burst is back: the client slowed down. One frame let in by the refill is not."""
        return self._buckets.get(user_id, (self.burst, 0.0))[0] >= self.burst / 2


@contextlib.contextmanager
def errors_as_frames(connection: Connection, client_msg_id: str | None) -> Iterator[None]:
    """A refused frame, or one a backing service failed, is answered with an error frame: the
    socket lives on and the client may retry the same frame."""
    try:
        yield
    except AppError as error:
        connection.push_frame(ErrorFrame(code=error.code, detail=error.detail, client_msg_id=client_msg_id))
    except DEPENDENCY_DOWN as error:
        log.warning("frame failed on a backing service: %s", type(error).__name__)
        connection.push_frame(ErrorFrame(code="unavailable", detail=UNAVAILABLE, client_msg_id=client_msg_id))


def decode_frame(text: str) -> ClientFrame:
    try:
        bodies.check(text)  # nesting msgspec would recurse on, NUL the database refuses
    except bodies.BadJson as error:
        raise msgspec.ValidationError(str(error)) from None  # answered as invalid_frame
    try:
        decoded: ClientFrame = _decoder.decode(text)
    except msgspec.ValidationError as error:
        if "missing required field `type`" not in str(error):
            raise
        untyped: SendFrame = _untyped_send.decode(text)
        return untyped
    return decoded
