"""Sign in with an identity provider (OpenID Connect): the browser's redirects, the SPA's exchange,
and the profile's linked identities. The protocol lives in `app.domain.accounts.oidc`."""

from __future__ import annotations

import datetime as dt
import html
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.params import JSONBody, Parameter, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from app.domain.accounts.controllers import AUTH, AUTH_BODY_LIMIT, USERS, _agent
from app.domain.accounts.deps import Accounts, Authenticated, client_address
from app.domain.accounts.oidc import (
    COOKIE_PATH,
    FLOW_SECONDS,
    STATE_COOKIE,
    FlowState,
    Oidc,
    OidcFailed,
    safe_return_path,
)
from app.domain.accounts.passwords import has_password
from app.domain.accounts.schemas import TokenResponse
from app.domain.params import Id, RuntimeDep
from app.errors import AppError
from app.web.responses import BEARER, error_response, error_responses
from app.web.routes import area

ProviderKey = Annotated[str, Parameter(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="OIDC_PROVIDERS key")]
ReturnTo = Annotated[str | None, Parameter(max_length=512, description="A path on this site to land on")]
QueryText = Annotated[str | None, Parameter(max_length=4096)]
StateParam = Annotated[str | None, QueryParameter(name="state", max_length=4096)]  # `state` is Litestar's


class ProviderOut(msgspec.Struct):
    key: str
    name: str
    login_url: str  # where the browser goes for "Sign in with <name>"


class ProvidersOut(msgspec.Struct):
    providers: list[ProviderOut]
    password_signup: bool  # false: accounts come from the identity providers only


class LinkBody(msgspec.Struct):
    return_to: Annotated[str, msgspec.Meta(max_length=512)] = "/"


class LinkOut(msgspec.Struct):
    authorization_url: str


class ExchangeBody(msgspec.Struct):
    code: Annotated[str, msgspec.Meta(max_length=4096)]


class IdentityOut(msgspec.Struct):
    id: int
    provider: str
    provider_name: str
    email: str | None
    created_at: dt.datetime


class IdentitiesOut(msgspec.Struct):
    identities: list[IdentityOut]
    has_password: bool


class LogoutOut(msgspec.Struct):
    end_session_url: str | None  # the provider's RP-initiated logout, when it offers one


def _oidc(runtime: RuntimeDep) -> Oidc:
    return runtime.oidc


def _redirect_uri(request: Request[Any, Any, Any], runtime: RuntimeDep, key: str) -> str:
    """The callback URL registered at the provider: on PUBLIC_URL when set (behind a proxy the
    request's own URL may not be what browsers see)."""
    base = runtime.settings.public_url or str(request.base_url).rstrip("/")
    return f"{base}{COOKIE_PATH}/{key}/callback"


def _flow_cookie(request: Request[Any, Any, Any], runtime: RuntimeDep, value: str, max_age: int) -> Cookie:
    public = runtime.settings.public_url
    secure = public.startswith("https://") if public else request.url.scheme == "https"
    # SameSite=Lax: the callback is a top-level navigation from the provider's site, which Lax lets
    # through while keeping the cookie off cross-site subrequests.
    return Cookie(
        key=STATE_COOKIE,
        value=value,
        path=COOKIE_PATH,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="lax",
    )


async def _begin(
    request: Request[Any, Any, Any], runtime: RuntimeDep, provider: str, return_to: str, link_user: int | None
) -> tuple[str, Cookie]:
    oidc = _oidc(runtime)
    party = oidc.get(provider)
    flow, sealed = oidc.start(provider, safe_return_path(return_to), link_user)
    url = await party.authorization_url(
        _redirect_uri(request, runtime, provider), flow.state, flow.nonce, oidc.challenge(flow)
    )
    return url, _flow_cookie(request, runtime, sealed, FLOW_SECONDS)


@get(
    "/api/v1/auth/oidc/providers",
    summary="The identity providers one may sign in with (for the sign-in page's buttons)",
)
async def list_providers(runtime: RuntimeDep) -> ProvidersOut:
    return ProvidersOut(
        providers=[
            ProviderOut(key=party.provider.key, name=party.name, login_url=f"{COOKIE_PATH}/{key}/login")
            for key, party in _oidc(runtime).providers.items()
        ],
        password_signup=runtime.settings.allow_password_signup,
    )


@get(
    "/api/v1/auth/oidc/{provider:str}/login",
    summary="Start signing in with an identity provider: a redirect to it (browser navigation)",
    status_code=302,
    responses=error_responses(400, 404, 503),
)
async def oidc_login(
    request: Request[Any, Any, Any], runtime: RuntimeDep, provider: ProviderKey, return_to: ReturnTo = None
) -> Redirect:
    url, cookie = await _begin(request, runtime, provider, return_to or "/", None)
    return Redirect(url, status_code=302, cookies=[cookie], headers={"Cache-Control": "no-store"})


@post(
    "/api/v1/auth/oidc/{provider:str}/link",
    status_code=HTTP_200_OK,
    summary="Link an identity provider to the signed-in account: the URL to send the browser to",
    request_max_body_size=AUTH_BODY_LIMIT,
    responses=error_responses(400, 401, 404, 503),
)
async def oidc_link(
    request: Request[Any, Any, Any],
    runtime: RuntimeDep,
    principal: Authenticated,
    provider: ProviderKey,
    data: JSONBody[LinkBody],
) -> Response[LinkOut]:
    url, cookie = await _begin(request, runtime, provider, data.return_to, principal.user_id)
    return Response(LinkOut(url), cookies=[cookie], headers={"Cache-Control": "no-store"})


def _failure_page(error: AppError) -> Response[str]:
    """A browser landing on a refused callback: the reason in words and a way back (no script)."""
    reason = (error.extra or {}).get("reason", error.code) if isinstance(error.extra, dict) else error.code
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed - Huddle</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>'
        f"<main><h1>Sign-in failed</h1><p>{html.escape(error.detail)}</p>"
        f'<p><a href="/signin#oidc_error={html.escape(str(reason))}">Back to sign in</a></p>'
        "</main></body></html>"
    )
    return Response(body, status_code=error.status_code, media_type=MediaType.HTML)


@get(
    "/api/v1/auth/oidc/{provider:str}/callback",
    summary="Where the identity provider sends the browser back: verifies and signs in (or links)",
    status_code=302,
    responses=error_responses(400, 401, 403, 404, 409, 429, 503),
)
async def oidc_callback(
    request: Request[Any, Any, Any],
    runtime: RuntimeDep,
    accounts: Accounts,
    provider: ProviderKey,
    code: QueryText = None,
    flow_state: StateParam = None,
    error: QueryText = None,
    error_description: QueryText = None,
) -> Response[Any]:
    cleared = _flow_cookie(request, runtime, "", 0)
    try:
        target = await _finish(
            request, runtime, accounts, provider, code, flow_state, error, error_description
        )
    except AppError as failure:
        wants_html = "text/html" in request.headers.get("accept", "")
        response: Response[Any] = (
            _failure_page(failure)
            if wants_html
            else error_response(
                failure.status_code, failure.detail, failure.code, failure.extra, failure.headers
            )
        )
        response.set_cookie(cleared)
        return response
    return Redirect(target, status_code=302, cookies=[cleared], headers={"Cache-Control": "no-store"})


async def _finish(
    request: Request[Any, Any, Any],
    runtime: RuntimeDep,
    accounts: Accounts,
    provider: str,
    code: str | None,
    state: str | None,
    error: str | None,
    error_description: str | None,
) -> str:
    oidc = _oidc(runtime)
    party = oidc.get(provider)
    flow: FlowState = oidc.resume(provider, request.cookies.get(STATE_COOKIE), state)
    # Once only, on every worker: a replayed callback (same cookie and state) is refused here.
    if not await runtime.state.claim(f"oidc:flow:{flow.jti}", FLOW_SECONDS * 2):
        raise OidcFailed("replayed", "This sign-in was already completed; start again")
    if error:
        detail = "The sign-in was cancelled" if error == "access_denied" else f"{party.name} refused: {error}"
        if error_description and error != "access_denied":
            detail += f" ({error_description[:200]})"
        raise OidcFailed("denied" if error == "access_denied" else "provider_error", detail, status_code=403)
    if not code:
        raise OidcFailed("no_code", "The identity provider sent no sign-in code")
    await accounts.limit_provider_sign_in(client_address(request))
    id_token = await party.exchange(code, _redirect_uri(request, runtime, provider), flow.verifier)
    claims = await party.verify(id_token, flow.nonce)
    user = await accounts.oidc_identity(party, claims, flow.link_user)
    if flow.link_user is not None:
        return f"{flow.return_to}#oidc_linked={provider}"
    return f"{flow.return_to}#oidc={accounts.exchange_code(user)}"


@post(
    "/api/v1/auth/oidc/exchange",
    status_code=HTTP_200_OK,
    summary="Swap the callback's one-time code for tokens: the same answer as a password sign-in",
    request_max_body_size=AUTH_BODY_LIMIT,
    responses=error_responses(400, 401),
)
async def oidc_exchange(
    request: Request[Any, Any, Any], data: JSONBody[ExchangeBody], accounts: Accounts
) -> TokenResponse:
    return await accounts.oidc_exchange(data.code, _agent(request))


@get(
    "/api/v1/auth/oidc/{provider:str}/logout",
    summary="The provider's RP-initiated logout URL, to visit after Huddle's own logout (or null)",
    responses=error_responses(404, 503),
)
async def oidc_logout_url(runtime: RuntimeDep, provider: ProviderKey) -> LogoutOut:
    party = _oidc(runtime).get(provider)
    discovery = await party.discovery()
    if not discovery.end_session_endpoint:
        return LogoutOut(None)
    separator = "&" if "?" in discovery.end_session_endpoint else "?"
    return LogoutOut(f"{discovery.end_session_endpoint}{separator}client_id={party.provider.client_id}")


@get(
    "/api/v1/users/me/identities",
    summary="The identity providers linked to the signed-in account",
)
async def my_identities(principal: Authenticated, accounts: Accounts, runtime: RuntimeDep) -> IdentitiesOut:
    providers = _oidc(runtime).providers
    rows = await accounts.identities(principal)
    return IdentitiesOut(
        identities=[
            IdentityOut(
                id=row.id,
                provider=row.provider,
                provider_name=providers[row.provider].name if row.provider in providers else row.provider,
                email=row.email,
                created_at=row.created_at,
            )
            for row in rows
        ],
        has_password=has_password(principal.user.password_hash),
    )


@delete(
    "/api/v1/users/me/identities/{identity_id:int}",
    status_code=HTTP_204_NO_CONTENT,
    summary="Unlink an identity provider (refused when it is the account's only way in)",
    responses=error_responses(404, 409),
)
async def unlink_identity(identity_id: Id, principal: Authenticated, accounts: Accounts) -> None:
    await accounts.unlink(principal, identity_id)


route_handlers = [
    area(list_providers, oidc_login, oidc_callback, oidc_exchange, oidc_logout_url, tags=AUTH),
    area(oidc_link, tags=AUTH, security=BEARER),
    area(my_identities, unlink_identity, tags=USERS, security=BEARER, errors=(401,)),
]
