"""Group bodies and group-level real-time events."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.db.models.groups import DESCRIPTION_MAX
from app.domain.accounts.schemas import Email, Name, PublicUser
from app.domain.ids import IdValue
from app.domain.messages.schemas import MessageFrame

Description = Annotated[str, msgspec.Meta(max_length=DESCRIPTION_MAX)]
Role = Literal["admin", "member"]


def as_role(role: str) -> Role:
    return "admin" if role == "admin" else "member"


class GroupCreate(msgspec.Struct):
    name: Name
    description: Description | None = None


class GroupPatch(msgspec.Struct, omit_defaults=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET


class UserRef(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Someone named by email (the seed's body) or by user id: exactly one of the two (stated in the
    OpenAPI schema by app.server.app.refine_openapi)."""

    email: Email | msgspec.UnsetType = msgspec.UNSET
    user_id: IdValue | msgspec.UnsetType = msgspec.UNSET


class RoleChange(msgspec.Struct):
    role: Role


class GroupOut(msgspec.Struct, kw_only=True):
    id: int
    name: str
    description: str | None
    is_direct: bool
    created_by: int | None
    created_at: dt.datetime
    role: Role
    member_count: int
    last_read_seq: int
    unread_count: int
    mention_count: int = 0  # unread messages that mention the caller
    last_message: MessageFrame | None = None
    peer: PublicUser | None = None  # the other person of a direct chat


class MemberOut(msgspec.Struct, kw_only=True):
    user_id: int
    # Members see each other's emails (seed 000). In a direct chat, null for a person who shares no
    # group with the caller: anyone may open a direct chat, so it must not reveal an address.
    email: str | None
    name: str
    display_name: str | None
    avatar_url: str | None
    role: Role
    joined_at: dt.datetime
    last_read_seq: int


class AccessOut(msgspec.Struct):
    group_id: int
    access: bool
    role: Role


class GroupUpdated(msgspec.Struct, kw_only=True, tag_field="type", tag="group_updated"):
    group_id: int
    name: str
    description: str | None


class GroupDeleted(msgspec.Struct, kw_only=True, tag_field="type", tag="group_deleted"):
    group_id: int


class RoleChanged(msgspec.Struct, kw_only=True, tag_field="type", tag="member_role"):
    group_id: int
    user_id: int
    role: Role
