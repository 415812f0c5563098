"""Sending, history, edits, deletions, reactions, read receipts and search.

Every write reaches the store (committed) before its event is published. REST handlers and the
WebSocket gateway call the same methods, each with its own short database session.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models.accounts import User
from app.db.models.groups import ROLE_ADMIN, Group, Membership
from app.db.models.media import Video
from app.domain.accounts.services import Principal
from app.domain.attachments.services import link, refs_for_send, unlink_message
from app.domain.groups.access import member_group_ids, require_member
from app.domain.messages.appender import READ_FORWARD, Appended, read_position
from app.domain.messages.frames import reaction_summary, to_frame
from app.domain.messages.schemas import (
    ChatMessage,
    MessageDeleted,
    MessageEdited,
    MessageFrame,
    MessagePage,
    ReactionChanged,
    ReactionOut,
    Reader,
    ReadState,
    SearchPage,
    Seen,
    SendMessage,
)
from app.domain.messages.store import MAX_REACTION_KINDS, Draft, StoredMessage
from app.domain.notifications.mentions import resolve_mentions
from app.domain.runtime import Runtime
from app.errors import Conflict, Forbidden, NotFound, RateLimited, Unprocessable

MESSAGE_NOT_FOUND = "Message not found"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def release(db: AsyncSession) -> None:
    """End the request session's read transaction so it holds no pooled connection while the message
    store takes one: a request holding two at once starves the pool under load and deadlocks."""
    await db.commit()


class Sending(NamedTuple):
    """A message queued by `start_send`, for `sent`."""

    draft: Draft
    done: asyncio.Future[Appended]


class MessageService:
    def __init__(self, db: AsyncSession, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime
        self.store = runtime.messages
        self.appender = runtime.appender
        self.events = runtime.events
        self.signer = runtime.attachment_signer

    def _frame(self, message: StoredMessage, viewer_id: int | None = None) -> MessageFrame:
        return to_frame(message, viewer_id, signer=self.signer)

    async def _member(self, principal: Principal, group_id: int) -> tuple[Group, Membership]:
        pair = await require_member(self.db, group_id, principal.user_id)
        await release(self.db)
        return pair

    async def _video_in_group(self, group_id: int, video_id: int) -> None:
        """An attached video must belong to the group the message goes to."""
        found = await self.db.scalar(select(Video.id).where(Video.id == video_id, Video.group_id == group_id))
        await release(self.db)
        if found is None:
            raise NotFound("Video not found")

    async def _live_message(self, group_id: int, seq: int) -> StoredMessage:
        message = await self.store.get(group_id, seq)
        if message is None or message.type != "message" or message.deleted_at is not None:
            raise NotFound(MESSAGE_NOT_FOUND)
        return message

    # -- sending -----------------------------------------------------------------------------------

    async def send(self, principal: Principal, group_id: int, body: SendMessage) -> tuple[ChatMessage, bool]:
        """Store and publish a chat message; (message, created). A retried client_msg_id with the
        same content returns the original; with other content it is a 409."""
        return await self.sent(await self.start_send(principal, group_id, body))

    async def start_send(self, principal: Principal, group_id: int, body: SendMessage) -> Sending:
        """Check what the message refers to and queue it: its place in the group's order is taken
        when this returns, so a caller can start the next send before this one is committed."""
        if body.video_id is not None or body.reply_to is not None or body.attachment_ids:
            # These checks read the group's content: a non-member must not learn anything from them.
            await self._member(principal, group_id)
        if body.video_id is not None:
            await self._video_in_group(group_id, body.video_id)
        if body.reply_to is not None:
            await self._live_message(group_id, body.reply_to)
        user = principal.user
        refs = await refs_for_send(self.db, self.runtime.settings, group_id, user.id, body.attachment_ids)
        mentions = await self._mentions(group_id, user.id, body.text)
        await release(self.db)  # the write takes its own connections
        draft = Draft(
            group_id=group_id,
            type="message",
            user=user.email,
            user_name=user.display_name or user.name,
            author_id=user.id,
            text=body.text or "",
            client_msg_id=body.client_msg_id,
            reply_to=body.reply_to,
            video_id=body.video_id,
            attachments=refs,
            mentions=mentions,
            created_at=_now(),
        )
        return Sending(draft, self.appender.submit(draft, by_member=True))

    async def _mentions(self, group_id: int, author_id: int, text: str | None) -> tuple[int, ...]:
        limit = self.runtime.settings.mention_all_limit
        return await resolve_mentions(self.db, group_id, author_id, text, all_limit=limit)

    async def sent(self, sending: Sending) -> tuple[ChatMessage, bool]:
        """Wait for a queued message to be committed and published; (message, created)."""
        stored, created = await sending.done
        draft = sending.draft
        ids = [ref.id for ref in draft.attachments]
        if not created:
            sent = (stored.text, stored.reply_to, stored.video_id, [ref.id for ref in stored.attachments])
            if sent != (draft.text, draft.reply_to, draft.video_id, ids):
                raise Conflict("client_msg_id was already used for a different message")
        # After the publish: a retry also repairs an attempt that died before linking.
        await link(self.db, draft.group_id, stored.seq, ids)
        return self._frame(stored, draft.author_id), created  # type: ignore[return-value]

    async def system(self, group: Group, kind: str, subject: User, text: str) -> MessageFrame:
        """Write and publish a seed-000 `add`/`leave` message about `subject`."""
        stored, _ = await self.appender.append(
            Draft(
                group_id=group.id,
                type=kind,
                user="system",
                author_id=subject.id,
                user_email=subject.email,
                text=text,
                created_at=_now(),
            ),
            by_member=False,
        )
        return self._frame(stored)

    async def video_control(
        self, principal: Principal, group_id: int, action: str, video_name: str | None, position: float
    ) -> MessageFrame:
        """Playback controls are stored as seed `video_control` messages, so late joiners and
        resuming clients see them in order with the chat."""
        stored, _ = await self.appender.append(
            Draft(
                group_id=group_id,
                type="video_control",
                user=principal.user.email,
                author_id=principal.user_id,
                video_action=action,
                video_name=video_name,
                video_time=position,
                created_at=_now(),
            ),
            by_member=True,
        )
        return self._frame(stored)

    # -- reading -----------------------------------------------------------------------------------

    async def history(
        self, principal: Principal, group_id: int, before_seq: int | None, after_seq: int | None, limit: int
    ) -> MessagePage:
        await self._member(principal, group_id)
        if before_seq is not None and after_seq is not None and before_seq <= after_seq + 1:
            return MessagePage(items=[], has_more=False)
        rows = await self.store.window(group_id, before_seq=before_seq, after_seq=after_seq, limit=limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit] if after_seq is not None else rows[-limit:]
        return MessagePage(items=[self._frame(m, principal.user_id) for m in rows], has_more=has_more)

    async def newest_first(
        self, principal: Principal, group_id: int, offset: int, limit: int
    ) -> list[MessageFrame]:
        await self._member(principal, group_id)
        rows = await self.store.newest_first(group_id, offset=offset, limit=limit)
        return [self._frame(m, principal.user_id) for m in rows]

    async def search(
        self, principal: Principal, query: str, group_id: int | None, limit: int, offset: int
    ) -> SearchPage:
        settings = self.runtime.settings
        wait = await self.runtime.state.hit(
            f"search:messages:{principal.user_id}",
            settings.search_rate_limit,
            settings.search_rate_window_seconds,
        )
        if wait:
            raise RateLimited(wait)
        if group_id is not None:
            await self._member(principal, group_id)
            group_ids = [group_id]
        else:
            group_ids = list(await self.db.scalars(member_group_ids(principal.user_id)))
        rows = await self.store.search(group_ids, query, limit=limit + 1, offset=offset)
        items = [self._frame(m, principal.user_id) for m in rows[:limit]]
        next_offset = offset + limit if len(rows) > limit else None
        return SearchPage(items=items, limit=limit, offset=offset, next_offset=next_offset)  # type: ignore[arg-type]

    # -- changing ----------------------------------------------------------------------------------

    async def edit(self, principal: Principal, group_id: int, seq: int, text: str) -> ChatMessage:
        await self._member(principal, group_id)
        message = await self._live_message(group_id, seq)
        if message.author_id != principal.user_id:
            raise Forbidden("Only the author can edit a message")
        mentions = await self._mentions(group_id, principal.user_id, text)
        await release(self.db)
        edited = await self.store.edit(group_id, seq, text, _now(), mentions)
        if edited is None:
            raise NotFound(MESSAGE_NOT_FOUND)
        await self.events.to_group(
            group_id,
            MessageEdited(
                id=edited.id,
                seq=seq,
                group_id=group_id,
                text=text,
                edited_at=edited.edited_at or _now(),
                mentions=list(edited.mentions),
            ),
        )
        return self._frame(edited, principal.user_id)  # type: ignore[return-value]

    async def delete(self, principal: Principal, group_id: int, seq: int) -> None:
        """Authors delete their own messages; admins delete any. A tombstone keeps the seq."""
        _, membership = await self._member(principal, group_id)
        message = await self._live_message(group_id, seq)
        if message.author_id != principal.user_id and membership.role != ROLE_ADMIN:
            raise Forbidden("Only the author or a group admin can delete a message")
        deleted = await self.store.tombstone(group_id, seq, _now())
        if deleted is None:
            raise NotFound(MESSAGE_NOT_FOUND)
        if message.attachments:
            await unlink_message(
                self.db, self.runtime.blobs, group_id, seq, [ref.id for ref in message.attachments]
            )
        await self.events.to_group(
            group_id, MessageDeleted(id=deleted.id, seq=seq, group_id=group_id, deleted_by=principal.user_id)
        )

    async def react(
        self, principal: Principal, group_id: int, seq: int, emoji: str, add: bool
    ) -> list[ReactionOut]:
        await self._member(principal, group_id)
        message = await self._live_message(group_id, seq)
        if add and emoji not in message.reactions and len(message.reactions) >= MAX_REACTION_KINDS:
            raise Unprocessable(f"A message can carry at most {MAX_REACTION_KINDS} different reactions")
        reactions = await self.store.react(group_id, seq, principal.user_id, emoji, add)
        if reactions is None:
            raise NotFound(MESSAGE_NOT_FOUND)
        had = principal.user_id in message.reactions.get(emoji, [])
        if had == add:  # a retried PUT, or removing what was never there: nothing changed to announce
            return reaction_summary(reactions, principal.user_id)
        await self.events.to_group(
            group_id,
            ReactionChanged(
                group_id=group_id,
                seq=seq,
                emoji=emoji,
                user_id=principal.user_id,
                action="add" if add else "remove",
                count=len(reactions.get(emoji, [])),
            ),
        )
        return reaction_summary(reactions, principal.user_id)

    # -- receipts ----------------------------------------------------------------------------------

    async def _advance_read(self, group_id: int, user_id: int, seq: int) -> int:
        """Move the read position forward only; returns the position after the update. A position
        that moved comes back from the update itself; one already further is read."""
        position = await self.db.scalar(
            READ_FORWARD.returning(Membership.last_read_seq), read_position(group_id, user_id, seq)
        )
        if position is None:
            position = await self.db.scalar(
                select(Membership.last_read_seq).where(
                    Membership.group_id == group_id, Membership.user_id == user_id
                )
            )
        await self.db.commit()
        return int(position or 0)

    async def mark_read(self, principal: Principal, group_id: int, seq: int) -> ReadState:
        await self._member(principal, group_id)
        latest = (await self.store.latest([group_id])).get(group_id)
        last_seq = latest.seq if latest else 0
        position = await self._advance_read(group_id, principal.user_id, min(seq, last_seq))
        await self.events.to_group(group_id, Seen(group_id=group_id, user_id=principal.user_id, seq=position))
        deleted = (await self.store.deleted_after({group_id: position})).get(group_id, 0)
        return ReadState(
            group_id=group_id, last_read_seq=position, unread_count=max(0, last_seq - position - deleted)
        )

    async def readers(self, principal: Principal, group_id: int, seq: int) -> list[Reader]:
        """Members (other than the caller) who have read up to `seq`."""
        await self._member(principal, group_id)
        rows = await self.db.execute(
            select(User.id, User.name, User.display_name, Membership.last_read_seq)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.group_id == group_id,
                Membership.last_read_seq >= seq,
                Membership.user_id != principal.user_id,
            )
            .order_by(func.lower(User.name), User.id)
        )
        return [Reader(user_id=r[0], name=r[1], display_name=r[2], last_read_seq=r[3]) for r in rows]
