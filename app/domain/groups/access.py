"""Membership checks shared by every group-scoped endpoint: a non-member sees a 404, exactly as for
a group that does not exist, so ids leak nothing."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models.groups import ROLE_ADMIN, Group, Membership
from app.errors import Forbidden, NotFound

GROUP_NOT_FOUND = "Group not found"


def member_group_ids(user_id: int) -> Select[int]:
    """The ids of the groups `user_id` belongs to (a query: run it, limit it, or use it in `in_`)."""
    return select(Membership.group_id).where(Membership.user_id == user_id)


async def require_member(db: AsyncSession, group_id: int, user_id: int) -> tuple[Group, Membership]:
    row = (
        await db.execute(
            select(Group, Membership)
            .join(Membership, Membership.group_id == Group.id)
            .where(Group.id == group_id, Membership.user_id == user_id)
        )
    ).first()
    if row is None:
        raise NotFound(GROUP_NOT_FOUND)
    return row.Group, row.Membership


async def require_admin(db: AsyncSession, group_id: int, user_id: int) -> tuple[Group, Membership]:
    group, membership = await require_member(db, group_id, user_id)
    if group.is_direct:
        raise Forbidden("Direct chats have no admin actions")
    if membership.role != ROLE_ADMIN:
        raise Forbidden("Only group admins can do this")
    return group, membership
