"""Group and direct-chat endpoints. Seed-000 paths are bound to the same handlers as `/api/v1`."""

from __future__ import annotations

from litestar import Response, delete, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from app.domain.accounts.deps import Authenticated
from app.domain.groups.deps import Groups
from app.domain.groups.schemas import (
    AccessOut,
    GroupCreate,
    GroupOut,
    GroupPatch,
    MemberOut,
    RoleChange,
    UserRef,
    as_role,
)
from app.domain.params import Id
from app.web.responses import BEARER, error_responses
from app.web.routes import area

TAGS = ["groups"]


@post(
    ["/api/v1/groups", "/groups"],
    status_code=HTTP_201_CREATED,
    summary="Create a group; the creator becomes its admin",
    responses=error_responses(400),
)
async def create_group(data: JSONBody[GroupCreate], principal: Authenticated, groups: Groups) -> GroupOut:
    return await groups.create(principal, data)


@get(
    ["/api/v1/groups", "/groups"],
    summary="The caller's groups with role, member count, last message and unread count",
)
async def list_groups(principal: Authenticated, groups: Groups) -> list[GroupOut]:
    return await groups.list_mine(principal)


@get(
    "/api/v1/groups/{group_id:int}",
    summary="One of the caller's groups",
    responses=error_responses(404),
)
async def get_group(group_id: Id, principal: Authenticated, groups: Groups) -> GroupOut:
    return await groups.get(principal, group_id)


@patch(
    "/api/v1/groups/{group_id:int}",
    summary="Rename or describe a group (admin)",
    responses=error_responses(400, 403, 404),
)
async def update_group(
    group_id: Id, data: JSONBody[GroupPatch], principal: Authenticated, groups: Groups
) -> GroupOut:
    return await groups.update(principal, group_id, data)


@delete(
    "/api/v1/groups/{group_id:int}",
    status_code=HTTP_204_NO_CONTENT,
    summary="Delete a group and its messages (admin); members are notified",
    responses=error_responses(403, 404),
)
async def delete_group(group_id: Id, principal: Authenticated, groups: Groups) -> None:
    await groups.delete(principal, group_id)


@get(
    "/api/v1/groups/{group_id:int}/members",
    summary="Members of a group",
    responses=error_responses(404),
)
async def list_members(group_id: Id, principal: Authenticated, groups: Groups) -> list[MemberOut]:
    return await groups.members(principal, group_id)


@post(
    ["/api/v1/groups/{group_id:int}/members", "/groups/{group_id:int}/members"],
    status_code=HTTP_201_CREATED,
    summary=(
        "Add a member (admin): by email, or by user id someone who already shares a group with the"
        " caller; MEMBER_ADD_RATE_LIMIT attempts per user"
    ),
    responses=error_responses(400, 403, 404, 409, 429),
)
async def add_member(
    group_id: Id, data: JSONBody[UserRef], principal: Authenticated, groups: Groups
) -> MemberOut:
    return await groups.add_member(principal, group_id, data)


@delete(
    ["/api/v1/groups/{group_id:int}/members", "/groups/{group_id:int}/members"],
    status_code=HTTP_204_NO_CONTENT,
    summary="Remove a member named by email or user id in the body (admin; the seed's form)",
    responses=error_responses(400, 403, 404, 409),
)
async def remove_member(
    group_id: Id, data: JSONBody[UserRef], principal: Authenticated, groups: Groups
) -> None:
    await groups.remove_member(principal, group_id, data)


@delete(
    "/api/v1/groups/{group_id:int}/members/{user_id:int}",
    status_code=HTTP_204_NO_CONTENT,
    summary="Remove a member (admin)",
    responses=error_responses(403, 404, 409),
)
async def remove_member_by_id(group_id: Id, user_id: Id, principal: Authenticated, groups: Groups) -> None:
    await groups.remove_member(principal, group_id, UserRef(user_id=user_id))


@patch(
    "/api/v1/groups/{group_id:int}/members/{user_id:int}",
    summary="Change a member's role (admin); a group keeps at least one admin",
    responses=error_responses(400, 403, 404, 409),
)
async def change_role(
    group_id: Id, user_id: Id, data: JSONBody[RoleChange], principal: Authenticated, groups: Groups
) -> MemberOut:
    return await groups.change_role(principal, group_id, user_id, data.role)


@post(
    "/api/v1/groups/{group_id:int}/leave",
    status_code=HTTP_204_NO_CONTENT,
    summary="Leave a group (the last admin hands over first)",
    responses=error_responses(403, 404, 409),
)
async def leave_group(group_id: Id, principal: Authenticated, groups: Groups) -> None:
    await groups.leave(principal, group_id)


@get(
    ["/api/v1/groups/{group_id:int}/access", "/verify-group-access/{group_id:int}"],
    summary="Whether the caller may use a group (404 otherwise)",
    responses=error_responses(404),
)
async def verify_group_access(group_id: Id, principal: Authenticated, groups: Groups) -> AccessOut:
    membership = await groups.access(principal, group_id)
    return AccessOut(group_id=group_id, access=True, role=as_role(membership.role))


@post(
    "/api/v1/direct",
    summary=(
        "Open the 1:1 chat with someone (201 when new, 200 when it already exists); refused when"
        " either blocked the other; DIRECT_CHAT_RATE_LIMIT new chats per user"
    ),
    responses={200: ResponseSpec(GroupOut, description="The chat already existed")}
    | error_responses(400, 404, 409, 429),
)
async def open_direct(
    data: JSONBody[UserRef], principal: Authenticated, groups: Groups
) -> Response[GroupOut]:
    group, created = await groups.direct(principal, data)
    return Response(group, status_code=HTTP_201_CREATED if created else HTTP_200_OK)


route_handlers = [
    area(
        create_group,
        list_groups,
        get_group,
        update_group,
        delete_group,
        list_members,
        add_member,
        remove_member,
        remove_member_by_id,
        change_role,
        leave_group,
        verify_group_access,
        open_direct,
        tags=TAGS,
        security=BEARER,
        errors=(401,),
    )
]
