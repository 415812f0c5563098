"""The outermost ASGI layer: request id, one access log line and the HTTP metrics per request.

It wraps Litestar's whole handler (not `middleware=`, which only runs for matched routes), so 404s,
405s, CORS preflights and errors are logged and counted too. WebSockets get one line when they end
and count as open sockets while accepted. The query string is logged with its secrets redacted: the
seed's `/ws/group/{id}?token=<jwt>` must never reach a log line.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from app.observability import context, metrics
from app.observability.logs import redact_text

REQUEST_ID_HEADER = b"x-request-id"
# The server's own `send`, kept in a WebSocket's scope by the app (app/server/app.py): data frames go
# straight to it (app/ws/gateway.py) instead of through every layer's wrapper, which only cares about
# accept and close.
FRAME_SEND = "huddle.frame_send"
_WELL_FORMED_ID = re.compile(rb"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
QUIET_ROUTES = frozenset({"/health", "/health/db", "/metrics"})  # probes and scrapes: debug level
access_log = structlog.get_logger("huddle.access")
_access_level = logging.getLogger("huddle.access")  # asked first: a line below LOG_LEVEL costs nothing

# Raw ASGI: messages are plain dicts here (Litestar's TypedDicts are too narrow to rewrite them).
Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
Send = Callable[[Message], Awaitable[None]]


def request_id_of(scope: Scope) -> str:
    """The caller's `X-Request-ID` when it is a sane token (it ends up in logs), else a new one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _WELL_FORMED_ID.match(value) else new_request_id()
    return new_request_id()


def new_request_id() -> str:
    return os.urandom(16).hex()  # 32 hex digits, as uuid4().hex, without building a UUID


def observe(app: ASGIApp) -> ASGIApp:
    async def observed(scope: Scope, receive: Any, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        _, token = context.enter(request_id)
        http = scope["type"] == "http"
        path, started = scope["path"], time.perf_counter()
        state: dict[str, Any] = {"status": None, "accepted": False, "close_code": None}

        async def send_observed(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                state["status"] = message["status"]
                headers = list(message.get("headers") or [])
                if not any(bytes(name).lower() == REQUEST_ID_HEADER for name, _ in headers):
                    headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            elif kind == "websocket.accept":
                state["status"], state["accepted"] = 101, True
                metrics.socket_opened()
            elif kind == "websocket.close":
                state["close_code"] = message.get("code", 1000)
                state["status"] = state["status"] or 403  # closed before accept: refused
            await send(message)

        try:
            await app(scope, receive, send_observed)
        except BaseException:
            state["status"] = state["status"] or 500
            raise
        finally:
            if state["accepted"]:
                metrics.socket_closed()
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or metrics.UNMATCHED_ROUTE
            if http:
                metrics.observe_http(scope["method"], route, state["status"] or 500, seconds)
            _log(scope, route, path, state, seconds)
            context.leave(token)

    return observed


def _log(scope: Scope, route: str, path: str, state: dict[str, Any], seconds: float) -> None:
    status = state["status"]
    if route in QUIET_ROUTES and status == 200:
        level = logging.DEBUG
    elif status is not None and status >= 500:
        level = logging.ERROR
    else:
        level = logging.INFO
    if not _access_level.isEnabledFor(level):
        return  # below LOG_LEVEL: not even the line's fields are made
    fields: dict[str, Any] = {
        "method": scope.get("method", "GET"),
        "route": route,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "client": scope["client"][0] if scope.get("client") else None,
    }
    if query := scope.get("query_string", b""):
        fields["query"] = redact_text(query.decode("latin-1"))
    if scope["type"] == "websocket":
        fields["close_code"] = state["close_code"]
    access_log.log(level, "websocket" if scope["type"] == "websocket" else "request", **fields)
