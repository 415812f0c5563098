"""Groups and direct chats: creation, membership, roles, limits.

Membership changes commit first; then the seed-000 system message is stored and published, so no
event ever announces something that could still roll back.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.models.accounts import User
from app.db.models.groups import ROLE_ADMIN, ROLE_MEMBER, Group, Membership
from app.domain.accounts.blocks import email_visible, has_blocked, shares_group
from app.domain.accounts.services import Principal, normalize_email, public_user
from app.domain.attachments.services import group_attachment_keys
from app.domain.attachments.services import remove_blobs as remove_attachment_blobs
from app.domain.frames import GroupJoined
from app.domain.groups.access import GROUP_NOT_FOUND, require_admin, require_member
from app.domain.groups.playback import forget_playback
from app.domain.groups.schemas import (
    GroupCreate,
    GroupDeleted,
    GroupOut,
    GroupPatch,
    GroupUpdated,
    MemberOut,
    RoleChanged,
    UserRef,
    as_role,
)
from app.domain.media.uploads.sweeper import group_blob_keys, remove_group_blobs
from app.domain.messages.frames import to_frame
from app.domain.messages.services import MessageService, release
from app.domain.runtime import Runtime
from app.domain.uow import UnitOfWork
from app.errors import BadRequest, Blocked, Conflict, Forbidden, NotFound, RateLimited

USER_NOT_FOUND = "User not found"
NOT_A_MEMBER = "Not a member of this group"


_COUNTED = aliased(Membership)
_MEMBER_COUNT = (
    select(func.count()).select_from(_COUNTED).where(_COUNTED.group_id == Group.id).scalar_subquery()
)
Listed = tuple[Group, Membership, int]  # a group, the caller's membership, its member count


def _label(user: User) -> str:
    return f"{user.display_name or user.name} ({user.email})"


class GroupService:
    def __init__(self, db: AsyncSession, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime
        self.events = runtime.events
        self.uow = UnitOfWork(db, runtime.events)
        self.messages = MessageService(db, runtime)

    # -- reading -----------------------------------------------------------------------------------

    async def _peers(self, group_ids: list[int], user_id: int) -> dict[int, User]:
        rows = await self.db.execute(
            select(Membership.group_id, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.group_id.in_(group_ids), Membership.user_id != user_id)
        )
        return dict(rows.all())

    async def _mine(self, principal: Principal, group_id: int | None = None) -> list[Listed]:
        """The caller's groups (or the one asked for, if a member), each with its member count:
        one statement."""
        query = (
            select(Group, Membership, _MEMBER_COUNT)
            .join(Membership, Membership.group_id == Group.id)
            .where(Membership.user_id == principal.user_id)
        )
        if group_id is not None:
            query = query.where(Group.id == group_id)
        return [(group, membership, count) for group, membership, count in await self.db.execute(query)]

    async def _render(self, principal: Principal, listed: list[Listed]) -> list[GroupOut]:
        ids = [group.id for group, _, _ in listed]
        if not ids:
            return []
        direct_ids = [group.id for group, _, _ in listed if group.is_direct]
        peers = await self._peers(direct_ids, principal.user_id) if direct_ids else {}
        await release(self.db)
        latest = await self.runtime.messages.latest(ids)
        # A message deleted before it was read is not unread.
        positions = {
            group.id: membership.last_read_seq for group, membership, _ in listed if group.id in latest
        }
        deleted = await self.runtime.messages.deleted_after(positions)
        mentioned = await self.runtime.messages.mention_counts(principal.user_id, positions)
        result = []
        for group, membership, member_count in listed:
            last = latest.get(group.id)
            peer = peers.get(group.id)
            result.append(
                GroupOut(
                    id=group.id,
                    name=(peer.display_name or peer.name) if peer else group.name,
                    description=group.description,
                    is_direct=group.is_direct,
                    created_by=group.created_by,
                    created_at=group.created_at,
                    role=as_role(membership.role),
                    member_count=member_count,
                    last_read_seq=membership.last_read_seq,
                    unread_count=max(
                        0, (last.seq if last else 0) - membership.last_read_seq - deleted.get(group.id, 0)
                    ),
                    mention_count=mentioned.get(group.id, 0),
                    last_message=(
                        to_frame(last, principal.user_id, signer=self.runtime.attachment_signer)
                        if last
                        else None
                    ),
                    peer=public_user(peer) if peer else None,
                )
            )
        return result

    async def list_mine(self, principal: Principal) -> list[GroupOut]:
        """The caller's groups, most recent activity first."""
        groups = await self._render(principal, await self._mine(principal))
        groups.sort(key=lambda g: g.last_message.created_at if g.last_message else g.created_at, reverse=True)
        return groups

    async def get(self, principal: Principal, group_id: int) -> GroupOut:
        listed = await self._mine(principal, group_id)
        if not listed:
            raise NotFound(GROUP_NOT_FOUND)
        return (await self._render(principal, listed))[0]

    async def members(self, principal: Principal, group_id: int) -> list[MemberOut]:
        """Members see each other's emails (the seed's contract). A direct chat is not a group one
        shares, as anyone may open one: there the other person's email shows only to someone who
        shares a group with them anyway."""
        group, _ = await require_member(self.db, group_id, principal.user_id)
        rows = list(
            await self.db.execute(
                select(User, Membership)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.group_id == group_id)
                .order_by(Membership.joined_at, User.id)
            )
        )
        shown = None
        if group.is_direct:
            shown = await email_visible(self.db, principal.user_id, [user.id for user, _ in rows])
        return [
            self._member_out(user, membership, email=shown is None or user.id in shown)
            for user, membership in rows
        ]

    @staticmethod
    def _member_out(user: User, membership: Membership, *, email: bool = True) -> MemberOut:
        return MemberOut(
            user_id=user.id,
            email=user.email if email else None,
            name=user.name,
            display_name=user.display_name,
            avatar_url=user.avatar_url,
            role=as_role(membership.role),
            joined_at=membership.joined_at,
            last_read_seq=membership.last_read_seq,
        )

    # -- creating and changing groups ---------------------------------------------------------------

    async def create(self, principal: Principal, body: GroupCreate) -> GroupOut:
        group = Group(name=body.name.strip(), description=body.description, created_by=principal.user_id)
        self.db.add(group)
        await self.db.flush()
        membership = Membership(group_id=group.id, user_id=principal.user_id, role=ROLE_ADMIN)
        self.db.add(membership)
        self.uow.to_user(principal.user_id, GroupJoined(group_id=group.id, from_seq=0))
        await self.uow.commit()
        return (await self._render(principal, [(group, membership, 1)]))[0]

    async def update(self, principal: Principal, group_id: int, patch: GroupPatch) -> GroupOut:
        group, _ = await require_admin(self.db, group_id, principal.user_id)
        if patch.name is not msgspec.UNSET:
            group.name = patch.name.strip()
        if patch.description is not msgspec.UNSET:
            group.description = patch.description
        self.uow.to_group(
            group_id, GroupUpdated(group_id=group_id, name=group.name, description=group.description)
        )
        await self.uow.commit()
        return await self.get(principal, group_id)

    async def delete(self, principal: Principal, group_id: int) -> None:
        group, _ = await require_admin(self.db, group_id, principal.user_id)
        await self._delete(group)

    async def _delete(self, group: Group) -> None:
        blobs = await group_blob_keys(self.db, group.id)  # the rows cascade; the bytes must go too
        attachments = await group_attachment_keys(self.db, group.id)
        await self.db.delete(group)
        self.uow.to_group(group.id, GroupDeleted(group_id=group.id))
        await self.uow.commit()
        await self.runtime.messages.drop_group(group.id)
        await forget_playback(self.runtime.playback, group.id)
        await remove_group_blobs(self.runtime.blobs, blobs)
        await remove_attachment_blobs(self.runtime.blobs, attachments)

    # -- membership --------------------------------------------------------------------------------

    async def _find(self, ref: UserRef) -> User | None:
        """The active user a body names, if any."""
        if (ref.email is msgspec.UNSET) == (ref.user_id is msgspec.UNSET):
            raise BadRequest("Give exactly one of email or user_id")
        if ref.email is not msgspec.UNSET:
            user = await self.db.scalar(select(User).where(User.email == normalize_email(ref.email)))
        else:
            user = await self.db.get(User, ref.user_id)
        return user if user is not None and user.is_active else None

    async def _limit(self, key: str, limit: int) -> None:
        """Direct chats and member additions per user (not per address): each is a way to learn
        who is behind an id or an address (security review, issue 22, item 4)."""
        window = self.runtime.settings.contact_rate_window_seconds
        wait = await self.runtime.state.hit(key, limit, window)
        if wait:
            raise RateLimited(wait, f"Too many attempts; try again in {wait} s")

    async def _addable(self, principal: Principal, ref: UserRef) -> User:
        """Whom an admin may add: anyone by email (the seed's contract: the admin knows the address);
        by id only someone who already shares a group with the admin (whose email the admin already
        sees), so an id found in a search cannot be turned into an address. Someone who blocked the
        admin, or whom an id does not make addable, answers like nobody at all."""
        user = await self._find(ref)
        if user is None or user.id == principal.user_id:
            raise NotFound(USER_NOT_FOUND)
        if await has_blocked(self.db, user.id, principal.user_id):
            raise NotFound(USER_NOT_FOUND)
        if ref.user_id is not msgspec.UNSET and not await shares_group(self.db, principal.user_id, user.id):
            raise NotFound(USER_NOT_FOUND)
        return user

    async def add_member(self, principal: Principal, group_id: int, ref: UserRef) -> MemberOut:
        group, _ = await require_admin(self.db, group_id, principal.user_id)
        settings = self.runtime.settings
        # Every attempt counts, found or not: an unknown address is a probe like any other.
        await self._limit(f"members:add:user:{principal.user_id}", settings.member_add_rate_limit)
        if ref.user_id == principal.user_id or (
            ref.email is not msgspec.UNSET and normalize_email(ref.email) == principal.user.email
        ):
            raise Conflict("Already a member of this group")
        user = await self._addable(principal, ref)
        await release(self.db)
        # New members start with everything before their arrival read.
        latest = (await self.runtime.messages.latest([group_id])).get(group_id)
        # Lock the group row (PostgreSQL) so concurrent adds cannot overshoot the member limit.
        await self.db.execute(select(Group.id).where(Group.id == group_id).with_for_update())
        if await self.db.get(Membership, (group_id, user.id)) is not None:
            raise Conflict("Already a member of this group")
        limit = self.runtime.settings.group_member_limit
        count = await self.db.scalar(select(func.count()).where(Membership.group_id == group_id)) or 0
        if count >= limit:
            raise Conflict(f"The group is full ({limit} members)")
        membership = Membership(
            group_id=group_id, user_id=user.id, role=ROLE_MEMBER, last_read_seq=latest.seq if latest else 0
        )
        self.db.add(membership)
        try:
            await self.db.commit()
        except IntegrityError:
            await self.db.rollback()
            raise Conflict("Already a member of this group") from None
        added = await self.messages.system(group, "add", user, f"{_label(user)} was added to {group.name}")
        # The new member's sockets may be on workers that do not follow this group yet.
        await self.events.to_user(user.id, GroupJoined(group_id=group_id, from_seq=added.seq - 1))
        return self._member_out(user, membership)

    async def remove_member(self, principal: Principal, group_id: int, ref: UserRef) -> None:
        group, _ = await require_admin(self.db, group_id, principal.user_id)
        user = await self._find(ref)
        if user is not None and user.id == principal.user_id:
            raise Conflict("Use leave to remove yourself")
        # An unknown address and a non-member answer alike: removal must not tell who has an account.
        membership = await self.db.get(Membership, (group_id, user.id)) if user is not None else None
        if user is None or membership is None:
            raise NotFound(NOT_A_MEMBER)
        await self.db.delete(membership)
        await self._parted(group, user, f"{_label(user)} was removed from {group.name}")

    async def leave(self, principal: Principal, group_id: int) -> None:
        """Leave a group. The last admin hands over first; the last member's leaving deletes it."""
        group, membership = await require_member(self.db, group_id, principal.user_id)
        if group.is_direct:
            raise Forbidden("Direct chats cannot be left")
        roles = list(await self.db.scalars(select(Membership.role).where(Membership.group_id == group_id)))
        if len(roles) == 1:
            await self._delete(group)
            return
        if membership.role == ROLE_ADMIN and roles.count(ROLE_ADMIN) == 1:
            raise Conflict("You are the last admin: make another member admin before leaving")
        await self.db.delete(membership)
        await self._parted(group, principal.user, f"{_label(principal.user)} left {group.name}")

    async def depart(self, user: User) -> None:
        """A deleted account leaves its groups (direct chats keep their history for the other person).
        A group it was alone in is deleted; one it was the last admin of gets its oldest member as admin.
        """
        groups = await self.db.scalars(
            select(Group)
            .join(Membership, Membership.group_id == Group.id)
            .where(Membership.user_id == user.id, Group.is_direct.is_(False))
        )
        for group in list(groups):
            others = list(
                await self.db.scalars(
                    select(Membership)
                    .where(Membership.group_id == group.id, Membership.user_id != user.id)
                    .order_by(Membership.joined_at, Membership.user_id)
                    .with_for_update()
                )
            )
            if not others:
                await self._delete(group)
                continue
            heir = None if any(m.role == ROLE_ADMIN for m in others) else others[0]
            if heir is not None:
                heir.role = ROLE_ADMIN
            await self.db.execute(
                delete(Membership).where(Membership.group_id == group.id, Membership.user_id == user.id)
            )
            if heir is not None:
                self.uow.to_group(
                    group.id, RoleChanged(group_id=group.id, user_id=heir.user_id, role=as_role(ROLE_ADMIN))
                )
            await self._parted(group, user, f"{_label(user)} left {group.name}")

    async def _parted(self, group: Group, user: User, notice: str) -> None:
        """Commit a membership this session deleted, then announce it with a `leave` message. Every
        worker forgets its grants at the commit, before the notice is written: a send of the former
        member's queued beside the notice is refused, so none is stored after it."""
        self.uow.access_changed()
        await self.uow.commit()
        await self.messages.system(group, "leave", user, notice)

    async def change_role(self, principal: Principal, group_id: int, user_id: int, role: str) -> MemberOut:
        await require_admin(self.db, group_id, principal.user_id)
        membership = await self.db.get(Membership, (group_id, user_id), with_for_update=True)
        user = await self.db.get(User, user_id)
        if membership is None or user is None:
            raise NotFound(NOT_A_MEMBER)
        if membership.role == ROLE_ADMIN and role != ROLE_ADMIN:
            admins = await self.db.scalar(
                select(func.count()).where(Membership.group_id == group_id, Membership.role == ROLE_ADMIN)
            )
            if (admins or 0) <= 1:
                raise Conflict("A group needs at least one admin")
        membership.role = role
        self.uow.to_group(group_id, RoleChanged(group_id=group_id, user_id=user_id, role=as_role(role)))
        await self.uow.commit()
        return self._member_out(user, membership)

    async def access(self, principal: Principal, group_id: int) -> Membership:
        _, membership = await require_member(self.db, group_id, principal.user_id)
        return membership

    # -- direct chats ------------------------------------------------------------------------------

    async def direct(self, principal: Principal, ref: UserRef) -> tuple[GroupOut, bool]:
        """The 1:1 chat with someone: created once, returned on every later call (race-safe through
        the unique `direct_key`). Reopening costs nothing; every other attempt (a new chat, an
        unknown user or address, a block) counts against DIRECT_CHAT_RATE_LIMIT. If either blocked
        the other, it is refused: to the blocked user the blocker is nobody (404), the blocker is
        told (409 `blocked`). A chat they had before the block stays, and is not reopened."""
        other = await self._find(ref)
        if other is not None and other.id == principal.user_id:
            raise BadRequest("A direct chat needs another person")
        blocked_me = other is not None and await has_blocked(self.db, other.id, principal.user_id)
        i_blocked = other is not None and await has_blocked(self.db, principal.user_id, other.id)
        key = f"{min(principal.user_id, other.id)}:{max(principal.user_id, other.id)}" if other else ""
        group = None
        if other is not None and not (blocked_me or i_blocked):
            group = await self.db.scalar(select(Group).where(Group.direct_key == key))
        if group is not None:
            return await self.get(principal, group.id), False
        await self._limit(f"direct:user:{principal.user_id}", self.runtime.settings.direct_chat_rate_limit)
        if other is None or blocked_me:
            raise NotFound(USER_NOT_FOUND)
        if i_blocked:
            raise Blocked("You blocked this person: unblock them to chat")
        low, high = sorted((principal.user_id, other.id))
        created = False
        group = await self.db.scalar(select(Group).where(Group.direct_key == key))
        if group is None:
            group = Group(name="Direct chat", is_direct=True, direct_key=key, created_by=principal.user_id)
            self.db.add(group)
            try:
                await self.db.flush()
                self.db.add_all(
                    [
                        Membership(group_id=group.id, user_id=low, role=ROLE_MEMBER),
                        Membership(group_id=group.id, user_id=high, role=ROLE_MEMBER),
                    ]
                )
                for user_id in (low, high):
                    self.uow.to_user(user_id, GroupJoined(group_id=group.id, from_seq=0))
                await self.uow.commit()
                created = True
            except IntegrityError:
                await self.db.rollback()  # someone created it first: use theirs
                await self.db.refresh(principal.user)
                group = await self.db.scalar(select(Group).where(Group.direct_key == key))
                if group is None:
                    raise
        return await self.get(principal, group.id), created
