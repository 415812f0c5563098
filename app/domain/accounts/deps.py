"""Dependency providers: the runtime, the account service and the authenticated principal; the
operators' guard."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from app.domain.accounts.blocks import BlockService
from app.domain.accounts.services import AccountService, Principal
from app.domain.params import DbSession, RuntimeDep
from app.domain.runtime import Runtime
from app.errors import Forbidden, Unauthorized
from app.observability.context import bind_user

BEARER_PREFIX = "bearer "

Accounts = NamedDependency[AccountService]
Blocks = NamedDependency[BlockService]
Authenticated = NamedDependency[Principal]


def provide_runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


def provide_accounts(db_session: DbSession, runtime: RuntimeDep) -> AccountService:
    return AccountService(db_session, runtime)


def provide_blocks(db_session: DbSession) -> BlockService:
    return BlockService(db_session)


def bearer_token(authorization: str | None) -> str:
    if not authorization or not authorization[: len(BEARER_PREFIX)].lower() == BEARER_PREFIX:
        raise Unauthorized("Not authenticated")
    token = authorization[len(BEARER_PREFIX) :].strip()
    if not token:
        raise Unauthorized("Not authenticated")
    return token


async def provide_principal(request: Request[Any, Any, Any], accounts: Accounts) -> Principal:
    principal = await accounts.authenticate(bearer_token(request.headers.get("authorization")))
    bind_user(principal.user_id)  # the request's log lines name the user from here on
    return principal


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's address for rate limits and logs: `app.server.proxies` has already replaced the
    peer with the `X-Forwarded-For` client when the peer is a trusted proxy."""
    return request.client.host if request.client else "unknown"


_FORWARDING = ("x-forwarded-for", "forwarded", "x-real-ip")


def require_operator(request: Request[Any, Any, Any], metrics_token: str | None) -> None:
    """Operators' views (metrics, worker internals): with `METRICS_TOKEN` set, that bearer token from
    anywhere; without it, only the machine itself (a loopback client and no forwarding header, so a
    reverse proxy on the same host does not open it to the world). A user's token is not enough."""
    if metrics_token is not None:
        presented = bearer_token(request.headers.get("authorization"))  # 401 when absent
        if not hmac.compare_digest(presented.encode(), metrics_token.encode()):
            raise Forbidden("Invalid metrics token")
    elif not _loopback(request):
        raise Forbidden("Served to loopback clients only; set METRICS_TOKEN to read it remotely")


def _loopback(request: Request[Any, Any, Any]) -> bool:
    try:
        local = ipaddress.ip_address(client_address(request)).is_loopback
    except ValueError:
        return False
    return local and not any(name in request.headers for name in _FORWARDING)
