"""WebSocket routes (`/ws`, the seed's `/ws/group/{id}`) and the real-time REST views."""

from __future__ import annotations

import os
from typing import Annotated, Any

import msgspec
from litestar import Litestar, Request, WebSocket, delete, get, post, websocket
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from litestar.types import ControllerRouterHandler

from app.domain.accounts.deps import Authenticated, require_operator
from app.domain.frames import PlaybackState, server_ms
from app.domain.groups.access import require_member
from app.domain.ids import MAX_ID
from app.domain.params import DbSession, Id
from app.web.responses import BEARER, error_responses
from app.web.routes import area
from app.ws.fanout import CloseCode
from app.ws.gateway import Gateway
from app.ws.protocol import PlaybackControl, ServerTime
from app.ws.sse import CURSOR_MAX_CHARS, CURSOR_PATTERN, EventStream


def gateway_of(app: Litestar) -> Gateway:
    gateway: Gateway = app.state.gateway
    return gateway


@websocket("/ws")
async def user_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """One socket for all of the user's groups: send a `resume` frame to follow them."""
    await gateway_of(socket.app).serve(socket, None, None)


@websocket("/ws/group/{group_id:str}")
async def group_socket(
    socket: WebSocket[Any, Any, Any],
    group_id: Annotated[str, Parameter()],
    last_seq: Annotated[str | None, Parameter()] = None,
) -> None:
    """The seed's one-group socket (`?token=<jwt>`), resuming after `last_seq` when given.

    Both are read here, not by Litestar: its refusal fails the handshake, which a browser shows as 1006
    whatever the reason, so a malformed URL completes it and closes with a code (docs/protocol.md)."""
    gateway = gateway_of(socket.app)
    group = _whole_number(group_id)
    seq = _whole_number(last_seq) if last_seq else None  # `last_seq=` is no last_seq
    if group is None or group == 0:
        await gateway.refuse(socket, CloseCode.NOT_FOUND, "group not found")
    elif last_seq and seq is None:
        await gateway.refuse(socket, CloseCode.BAD_URL, "last_seq must be a whole number from 0")
    else:
        await gateway.serve(socket, group, seq)


def _whole_number(text: str) -> int | None:
    """A whole number up to MAX_ID (a group id or a seq), else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    return number if (number := int(text)) <= MAX_ID else None


Ticket = Annotated[str | None, Parameter()]  # declared, not inferred (Litestar 3 drops inference)
Cursor = Annotated[
    str | None,
    Parameter(
        max_length=CURSOR_MAX_CHARS, pattern=CURSOR_PATTERN, description="`group:seq` pairs, comma separated"
    ),
]


@get(
    "/api/v1/events",
    summary="Server-Sent Events: every event `/ws` delivers, resumable by Last-Event-ID",
    description=(
        "A `text/event-stream` of the user's groups: each event is a socket frame named by its type; "
        "every write ends with an `id:` cursor that `Last-Event-ID` (or `?cursor=`) resumes from, "
        "exactly once. Authenticate with a single-use `?ticket=` (browsers) or a bearer token. "
        "See docs/protocol.md, *Server-Sent Events*."
    ),
    media_type="text/event-stream",
    responses=error_responses(400, 403, 429, 503),
    cache=False,
)
async def event_stream(
    request: Request[Any, Any, Any], gateway: GatewayDep, ticket: Ticket = None, cursor: Cursor = None
) -> EventStream:
    return await gateway.open_stream(request, ticket, cursor)


@post(
    "/api/v1/groups/{group_id:int}/typing",
    status_code=204,
    summary="Tell the group you are typing (what the socket's `typing` frame does; one event per 2 s)",
    responses=error_responses(404),
)
async def typing(group_id: Id, principal: Authenticated, db_session: DbSession, gateway: GatewayDep) -> None:
    await require_member(db_session, group_id, principal.user_id)
    await gateway.typing(principal, group_id)


@delete(
    "/api/v1/groups/{group_id:int}/typing",
    status_code=204,
    summary="Tell the group you stopped typing (the socket's `typing` frame with `active: false`)",
    responses=error_responses(404),
)
async def stop_typing(
    group_id: Id, principal: Authenticated, db_session: DbSession, gateway: GatewayDep
) -> None:
    await require_member(db_session, group_id, principal.user_id)
    await gateway.typing(principal, group_id, active=False)


@post(
    "/api/v1/groups/{group_id:int}/playback",
    status_code=200,
    summary="Play, pause, seek or change the rate for the group (the socket's `video_control`)",
    responses=error_responses(400, 404, 503),
)
async def playback_control(
    group_id: Id,
    data: JSONBody[PlaybackControl],
    principal: Authenticated,
    db_session: DbSession,
    gateway: GatewayDep,
) -> PlaybackState:
    await require_member(db_session, group_id, principal.user_id)
    return await gateway.video_control(principal, group_id, data)


@get(
    "/api/v1/time",
    summary="The server's clock, for clock sync without a socket (as `ping`/`pong`)",
    cache=False,
)
async def server_time() -> ServerTime:
    return ServerTime(server_time=server_ms())


class OnlineOut(msgspec.Struct):
    group_id: int
    user_ids: list[int]


class SocketStats(msgspec.Struct):
    worker_pid: int
    sockets: int
    users: int
    groups: int
    queued_frames: int
    delivered_frames: int


def provide_gateway(state: State) -> Gateway:
    gateway: Gateway = state.gateway
    return gateway


GatewayDep = NamedDependency[Gateway]


@get(
    "/api/v1/groups/{group_id:int}/online",
    summary="Members with an open socket, across every worker and replica",
    responses=error_responses(404),
)
async def online_members(
    group_id: Id, principal: Authenticated, db_session: DbSession, gateway: GatewayDep
) -> OnlineOut:
    await require_member(db_session, group_id, principal.user_id)
    return OnlineOut(group_id=group_id, user_ids=await gateway.presence.online(group_id))


@get(
    "/api/v1/ws/stats",
    summary="This worker's socket registry: sockets, users, followed groups, queued and delivered frames",
    description="For operators: the `METRICS_TOKEN` bearer, or from the machine itself when none is set.",
    responses=error_responses(401, 403),
    cache=False,
)
async def socket_stats(request: Request[Any, Any, Any], gateway: GatewayDep) -> SocketStats:
    require_operator(request, gateway.runtime.settings.metrics_token)
    return SocketStats(worker_pid=os.getpid(), **gateway.stats())


route_handlers: list[ControllerRouterHandler] = [
    area(
        event_stream,
        typing,
        stop_typing,
        playback_control,
        online_members,
        tags=["realtime"],
        security=BEARER,
        errors=(401,),
    ),
    area(server_time, socket_stats, tags=["realtime"]),
    user_socket,
    group_socket,
]
