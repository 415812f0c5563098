"""Dependency providers: the runtime, the account service and the authenticated principal."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from app.domain.accounts.services import AccountService, Principal
from app.domain.params import DbSession, RuntimeDep
from app.errors import Unauthorized
from app.observability.context import bind_user
from app.runtime import Runtime

BEARER_PREFIX = "bearer "

Accounts = NamedDependency[AccountService]
Authenticated = NamedDependency[Principal]


def provide_runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


def provide_accounts(db_session: DbSession, runtime: RuntimeDep) -> AccountService:
    return AccountService(db_session, runtime)


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
