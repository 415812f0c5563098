"""The current request's identity for log lines: request id and, once authenticated, user id.

The middleware sets one mutable `RequestContext` per request. Litestar may resolve dependencies in
child tasks, whose context variables are copies, so the principal provider records the user on the
shared object rather than binding a new context variable the middleware would never see.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

from structlog.typing import EventDict, WrappedLogger


@dataclass(eq=False, slots=True)
class RequestContext:
    request_id: str
    user_id: int | None = None


_current: ContextVar[RequestContext | None] = ContextVar("huddle_request", default=None)


def enter(request_id: str) -> tuple[RequestContext, Token[RequestContext | None]]:
    context = RequestContext(request_id)
    return context, _current.set(context)


def leave(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def current() -> RequestContext | None:
    return _current.get()


def bind_user(user_id: int) -> None:
    """Name the authenticated user on every log line of this request (or socket) from now on."""
    context = _current.get()
    if context is not None:
        context.user_id = user_id


def add_request_context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """structlog processor: request_id and user_id of the request being served, if any."""
    context = _current.get()
    if context is not None:
        event.setdefault("request_id", context.request_id)
        if context.user_id is not None:
            event.setdefault("user_id", context.user_id)
    return event
