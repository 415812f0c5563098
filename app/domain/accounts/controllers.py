"""Auth and user endpoints. Seed-000 paths are bound to the same handlers as `/api/v1`."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, patch, post, put
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from app.domain.accounts.deps import Accounts, Authenticated, Blocks, client_address
from app.domain.accounts.schemas import (
    AccountDeleteBody,
    BlockOut,
    LoginBody,
    MeOut,
    PasswordChangeBody,
    ProfilePatch,
    PublicUser,
    RefreshBody,
    RegisterBody,
    TicketOut,
    TokenForm,
    TokenResponse,
    UserOut,
    UserPage,
    VerifyTokenOut,
)
from app.domain.accounts.services import public_user, user_out
from app.domain.attachments.deps import Attachments
from app.domain.groups.deps import Groups
from app.domain.params import Id, Offset
from app.web.responses import BEARER, error_responses
from app.web.routes import area

AUTH = ["auth"]
USERS = ["users"]
SearchQuery = Annotated[
    str, Parameter(min_length=1, max_length=100, description="Name (start of a word) or a whole email")
]
SearchLimit = Annotated[int, Parameter(ge=1, le=50)]
# Sign-in bodies are small; anyone can send them, so refuse junk long before the 1 MiB default.
AUTH_BODY_LIMIT = 64 * 1024


def _agent(request: Request[Any, Any, Any]) -> str | None:
    return request.headers.get("user-agent")


@post(
    "/api/v1/auth/register",
    status_code=HTTP_201_CREATED,
    summary="Create an account and sign in",
    request_max_body_size=AUTH_BODY_LIMIT,
    responses=error_responses(409, 429),
)
async def register(
    request: Request[Any, Any, Any], data: JSONBody[RegisterBody], accounts: Accounts
) -> TokenResponse:
    return await accounts.register(data, _agent(request), client_address(request))


@post(
    "/register",
    status_code=HTTP_200_OK,  # seed 000's own test asserts 200
    summary="Create an account and sign in (seed 000: answers 200)",
    request_max_body_size=AUTH_BODY_LIMIT,
    responses=error_responses(409, 429),
)
async def register_seed_register(
    request: Request[Any, Any, Any], data: JSONBody[RegisterBody], accounts: Accounts
) -> TokenResponse:
    return await accounts.register(data, _agent(request), client_address(request))


@post(
    "/api/v1/auth/login",
    status_code=HTTP_200_OK,
    summary="Sign in with email and password (JSON)",
    request_max_body_size=AUTH_BODY_LIMIT,
    responses=error_responses(401, 429),
)
async def login(
    request: Request[Any, Any, Any], data: JSONBody[LoginBody], accounts: Accounts
) -> TokenResponse:
    return await accounts.login(data.email, data.password, _agent(request), client_address(request))


@post(
    ["/api/v1/auth/token", "/token", "/login"],
    status_code=HTTP_200_OK,
    summary="Sign in with the OAuth2 password grant (form: username, password)",
    request_max_body_size=AUTH_BODY_LIMIT,
    responses=error_responses(401, 429),
)
async def token(
    request: Request[Any, Any, Any],
    data: Annotated[TokenForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    accounts: Accounts,
) -> TokenResponse:
    return await accounts.login(data.username, data.password, _agent(request), client_address(request))


@post(
    "/api/v1/auth/refresh",
    status_code=HTTP_200_OK,
    summary="Exchange a refresh token for new tokens (rotation; reuse revokes the session)",
    request_max_body_size=AUTH_BODY_LIMIT,
    responses=error_responses(401),
)
async def refresh(data: JSONBody[RefreshBody], accounts: Accounts) -> TokenResponse:
    return await accounts.refresh(data.refresh_token)


@post(
    "/api/v1/auth/logout",
    status_code=HTTP_204_NO_CONTENT,
    summary="End this session: its access and refresh tokens stop working",
)
async def logout(principal: Authenticated, accounts: Accounts) -> None:
    await accounts.logout(principal)


@post(
    "/api/v1/auth/ws-ticket",
    status_code=HTTP_201_CREATED,
    summary="A single-use WebSocket ticket, valid for at most 60 seconds",
)
async def ws_ticket(principal: Authenticated, accounts: Accounts) -> TicketOut:
    return await accounts.issue_ticket(principal)


@get(
    ["/api/v1/auth/verify", "/verify-token"],
    summary="Check a bearer token and return its user",
)
async def verify_token(principal: Authenticated) -> VerifyTokenOut:
    return VerifyTokenOut(valid=True, user=user_out(principal.user))


@get(
    ["/api/v1/users/me", "/users/me"],
    summary="The signed-in user, with the storage their attachments use (`storage: {used, quota}`)",
)
async def get_me(principal: Authenticated, attachments: Attachments) -> MeOut:
    usage = await attachments.usage(principal.user_id)
    return MeOut(**msgspec.structs.asdict(user_out(principal.user)), storage=usage)


@patch(
    "/api/v1/users/me",
    summary="Update name, display name, avatar URL or status message",
    responses=error_responses(400),
)
async def update_me(data: JSONBody[ProfilePatch], principal: Authenticated, accounts: Accounts) -> UserOut:
    return user_out(await accounts.update_profile(principal, data))


@post(
    "/api/v1/users/me/password",
    status_code=HTTP_204_NO_CONTENT,
    summary="Change password (current one required); other sessions end",
    responses=error_responses(400, 429),
)
async def change_password(
    request: Request[Any, Any, Any],
    data: JSONBody[PasswordChangeBody],
    principal: Authenticated,
    accounts: Accounts,
) -> None:
    await accounts.change_password(principal, data, client_address(request))


@delete(
    "/api/v1/users/me",
    status_code=HTTP_204_NO_CONTENT,
    summary="Delete (deactivate) the account; every token of it stops working",
    responses=error_responses(400, 429),
)
async def delete_me(
    request: Request[Any, Any, Any],
    data: JSONBody[AccountDeleteBody],
    principal: Authenticated,
    accounts: Accounts,
    groups: Groups,
) -> None:
    await accounts.delete_account(principal, data.password, client_address(request))
    await groups.depart(principal.user)


@get(
    "/api/v1/users/{user_id:int}",
    summary="Another user's public profile",
    responses=error_responses(404),
)
async def get_user(user_id: Id, principal: Authenticated, accounts: Accounts) -> PublicUser:
    return public_user(await accounts.get_user(user_id, viewer_id=principal.user_id))


@get(
    "/api/v1/users/me/blocks",
    summary="The users the caller blocked, most recent first",
)
async def list_blocks(principal: Authenticated, blocks: Blocks) -> list[BlockOut]:
    return await blocks.list(principal)


@put(
    "/api/v1/users/me/blocks/{user_id:int}",
    status_code=HTTP_204_NO_CONTENT,
    summary="Block a user: they can no longer open a direct chat with you or add you to a group",
    responses=error_responses(400, 404, 409),
)
async def block_user(user_id: Id, principal: Authenticated, blocks: Blocks) -> None:
    await blocks.block(principal, user_id)


@delete(
    "/api/v1/users/me/blocks/{user_id:int}",
    status_code=HTTP_204_NO_CONTENT,
    summary="Unblock a user (204 whether or not they were blocked)",
    responses=error_responses(400, 404),
)
async def unblock_user(user_id: Id, principal: Authenticated, blocks: Blocks) -> None:
    await blocks.unblock(principal, user_id)


@get(
    "/api/v1/users",
    summary="Search users by the start of a word of their name, or by a whole email address",
    responses=error_responses(400, 429),
)
async def search_users(
    principal: Authenticated, accounts: Accounts, q: SearchQuery, limit: SearchLimit = 20, offset: Offset = 0
) -> UserPage:
    users = await accounts.search(principal, q, limit + 1, offset)
    items = [public_user(user) for user in users[:limit]]
    return UserPage(
        items=items, limit=limit, offset=offset, next_offset=offset + limit if len(users) > limit else None
    )


route_handlers = [
    area(register, register_seed_register, login, token, refresh, tags=AUTH, errors=(400, 413)),
    area(logout, ws_ticket, verify_token, tags=AUTH, security=BEARER, errors=(401,)),
    area(
        get_me,
        update_me,
        change_password,
        delete_me,
        get_user,
        search_users,
        list_blocks,
        block_user,
        unblock_user,
        tags=USERS,
        security=BEARER,
        errors=(401,),
    ),
]
