"""Blocking and who may see whose email (security review, issue 22, item 4: email harvesting).

A user may block another. The blocked user can then no longer open a direct chat with the blocker
nor add them to a group, by id or by email; to the blocked user the blocker answers like nobody at
all (the same 404 as an unknown user), and is left out of their searches and profile lookups, so a
refusal tells no more than that. Groups they already share stay as they are.

An email is shown to its owner and to those who share a group (not a direct chat: anyone can open
one) with its owner, nobody else: `email_visible`, `shares_group`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.dialects import insert_for
from app.db.models.accounts import User, UserBlock
from app.db.models.groups import Group, Membership
from app.domain.accounts.schemas import BlockOut
from app.domain.accounts.services import Principal, public_user
from app.errors import Conflict, NotFound

USER_NOT_FOUND = "User not found"


async def has_blocked(db: AsyncSession, blocker_id: int, blocked_id: int) -> bool:
    return await db.get(UserBlock, (blocker_id, blocked_id)) is not None


async def shares_group(db: AsyncSession, user_id: int, other_id: int) -> bool:
    """Whether both are members of one group that is not a direct chat."""
    return bool(await email_visible(db, user_id, [other_id]))


async def email_visible(db: AsyncSession, viewer_id: int, user_ids: Collection[int]) -> set[int]:
    """Those of `user_ids` whose email `viewer_id` may see: themselves, and whoever shares a group
    (not a direct chat) with them."""
    others = set(user_ids) - {viewer_id}
    visible = set(user_ids) & {viewer_id}
    if not others:
        return visible
    mine, theirs = aliased(Membership), aliased(Membership)
    rows = await db.scalars(
        select(theirs.user_id)
        .distinct()
        .join(mine, mine.group_id == theirs.group_id)
        .join(Group, Group.id == theirs.group_id)
        .where(mine.user_id == viewer_id, theirs.user_id.in_(others), Group.is_direct.is_(False))
    )
    return visible | set(rows)


def _either_way(a: int, b: int) -> ColumnElement[bool]:
    return or_(
        and_(UserBlock.blocker_id == a, UserBlock.blocked_id == b),
        and_(UserBlock.blocker_id == b, UserBlock.blocked_id == a),
    )


async def blocked_between(db: AsyncSession, a: int, b: int) -> bool:
    return bool(await db.scalar(select(exists().where(_either_way(a, b)))))


class BlockService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def _target(self, principal: Principal, user_id: int) -> None:
        if user_id == principal.user_id:
            raise Conflict("You cannot block yourself")
        user = await self.db.get(User, user_id)
        if user is None or not user.is_active:
            raise NotFound(USER_NOT_FOUND)

    async def block(self, principal: Principal, user_id: int) -> None:
        """Idempotent. Answers the same whether or not the other person blocked the caller."""
        await self._target(principal, user_id)
        values = {
            "blocker_id": principal.user_id,
            "blocked_id": user_id,
            "created_at": dt.datetime.now(dt.UTC),
        }
        await self.db.execute(insert_for(self.db)(UserBlock).values(values).on_conflict_do_nothing())
        await self.db.commit()

    async def unblock(self, principal: Principal, user_id: int) -> None:
        """Idempotent: 204 whether or not there was a block (the account may be gone meanwhile)."""
        await self.db.execute(
            delete(UserBlock).where(
                UserBlock.blocker_id == principal.user_id, UserBlock.blocked_id == user_id
            )
        )
        await self.db.commit()

    async def list(self, principal: Principal) -> list[BlockOut]:
        """Whom the caller blocked, most recent first (deactivated accounts left out)."""
        rows = await self.db.execute(
            select(User, UserBlock.created_at)
            .join(UserBlock, UserBlock.blocked_id == User.id)
            .where(UserBlock.blocker_id == principal.user_id, User.is_active.is_(True))
            .order_by(UserBlock.created_at.desc(), User.id)
        )
        return [BlockOut(user=public_user(user), blocked_at=created_at) for user, created_at in rows]
