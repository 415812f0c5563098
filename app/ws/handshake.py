"""The socket handshake: the Origin check, the three ways to authenticate, subprotocol choice, and
closing with a code the client can read."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import WebSocket
from litestar.connection import ASGIConnection
from litestar.connection.base import empty_receive, empty_send
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.accounts.services import AccountService, Principal
from app.domain.groups.access import member_group_ids
from app.errors import Unauthorized

# In order of preference: huddle.v2 frames may carry several events, one JSON object per line.
SUBPROTOCOLS = ("huddle.v2", "huddle.v1")
COALESCING = "huddle.v2"
BEARER_SUBPROTOCOL = "bearer."


def origin_allowed(allowed: Any, socket: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """In WS_ALLOWED_ORIGINS (`allowed`), or else the page's own host; no Origin: not a browser."""
    origin = socket.headers.get("origin")
    if origin is None:
        return True  # not a browser: browsers always send Origin
    if allowed:
        return origin.rstrip("/") in allowed or "*" in allowed
    host = socket.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


async def refuse(socket: WebSocket[Any, Any, Any], subprotocol: str | None, code: int, reason: str) -> None:
    """Complete the handshake only to close with a code the client can read (a refused handshake
    shows in a browser as 1006, whatever the reason)."""
    await socket.accept(subprotocols=subprotocol)
    await socket.close(code=code, reason=reason)


async def authenticate(socket: WebSocket[Any, Any, Any], accounts: AccountService) -> Principal:
    """A single-use ticket, a bearer token in the subprotocol list, or the seed's ?token=."""
    params = socket.query_params
    if ticket := params.get("ticket"):
        return await accounts.redeem_ticket(ticket)
    for protocol in offered_protocols(socket):
        if protocol.startswith(BEARER_SUBPROTOCOL):
            return await accounts.authenticate(protocol.removeprefix(BEARER_SUBPROTOCOL))
    if token := params.get("token"):
        return await accounts.authenticate(token)
    raise Unauthorized("Not authenticated")


async def member_groups(db: AsyncSession, user_id: int) -> list[int]:
    return list(await db.scalars(member_group_ids(user_id)))


def unlink(socket: WebSocket[Any, Any, Any]) -> None:
    """Let reference counting free a finished socket at once. Litestar's WebSocket keeps its receive
    and send wrappers as closures over itself, and an exception kept by a task holds the frames that
    raised it: cycles that wait for a full collection, which the workers make rare
    (app/server/collector.py), so every closed socket's objects piled up until then
    (tests/integration/test_socket_garbage.py)."""
    socket.receive, socket.send = empty_receive, empty_send


def choose_subprotocol(socket: WebSocket[Any, Any, Any]) -> str | None:
    """The best huddle subprotocol the client offered, if any."""
    offered = offered_protocols(socket)
    return next((protocol for protocol in SUBPROTOCOLS if protocol in offered), None)


def offered_protocols(socket: WebSocket[Any, Any, Any]) -> list[str]:
    header = socket.headers.get("sec-websocket-protocol", "")
    return [item.strip() for item in header.split(",") if item.strip()]
