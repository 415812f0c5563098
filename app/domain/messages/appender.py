"""Group commit for new messages: the one way a message is stored and announced.

Messages for a group that arrive while the group's previous write is in flight are stored together
by the next one: one membership check (a query only for authors this worker does not remember, see
app/domain/grants.py), one write (one seq range, one multi-row insert: on PostgreSQL one statement)
and one pipelined publish for the lot, in the order they were submitted. A busy group then costs
the database a write per batch instead of a write per message, and holds the group's seq lock for
one write per batch; a quiet group pays nothing extra, as a lone message is written at once.
Its senders' read positions then move to what they wrote while the group's next batch is written:
each is answered after its own update, which never holds the group's writes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import autocommit
from app.db.models.groups import Group, Membership
from app.domain.events import Events
from app.domain.grants import member_grant
from app.domain.groups.access import GROUP_NOT_FOUND
from app.domain.messages.frames import to_frame
from app.domain.messages.store import Draft, MessageStore, StoredMessage
from app.domain.shared.signing import AttachmentSigner
from app.errors import DEPENDENCY_DOWN, NotFound

log = logging.getLogger("huddle.messages")
BATCH_MAX = 200  # messages per transaction
Appended = tuple[StoredMessage, bool]  # (the message, whether this submission created it)


@dataclass(slots=True)
class _Submission:
    draft: Draft
    by_member: bool
    done: asyncio.Future[Appended] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


# Statements on the hot path are built once: building one costs more CPU than running it.
# Which of the authors are members, and whether the group is a direct chat.
MEMBERS = (
    select(Membership.user_id, Group.is_direct)
    .join(Group, Group.id == Membership.group_id)
    .where(
        Membership.group_id == bindparam("group_id"),
        Membership.user_id.in_(bindparam("user_ids", expanding=True)),
    )
)
# Moves a member's read position forward to `read_seq`, never back.
READ_FORWARD = (
    update(Membership)
    .where(
        Membership.group_id == bindparam("read_group"),
        Membership.user_id == bindparam("read_user"),
        Membership.last_read_seq < bindparam("read_seq"),
    )
    .values(last_read_seq=bindparam("read_seq"))
    .execution_options(synchronize_session=False)
)


def direct_alias(user_id: int) -> str:
    """How a direct chat's messages name their author in the seed's `user` field, where other
    groups put the author's email: anyone may open a direct chat, and writing in one must not hand
    the other person an address (security review, issue 22, item 4). Never deliverable (RFC 2606)."""
    return f"user+{user_id}@direct.invalid"


def _in_direct_chat(draft: Draft) -> Draft:
    if draft.author_id is None or draft.user == "system":
        return draft
    return msgspec.structs.replace(draft, user=direct_alias(draft.author_id))


def read_position(group_id: int, user_id: int, seq: int) -> dict[str, int]:
    """READ_FORWARD's parameters."""
    return {"read_group": group_id, "read_user": user_id, "read_seq": seq}


class Appender:
    def __init__(
        self,
        store: MessageStore,
        engine: AsyncEngine,
        events: Events,
        signer: AttachmentSigner,
    ) -> None:
        self._store = store
        self._engine = engine
        self._events = events
        self._signer = signer
        self._queues: dict[int, deque[_Submission]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # the queues' writers, and answers after a read update
        # Handed each batch's new messages once published, without an await (Web Push's queue).
        self.on_stored: Callable[[Sequence[StoredMessage]], None] | None = None

    def submit(self, draft: Draft, *, by_member: bool) -> asyncio.Future[Appended]:
        """Queue a draft; its place in the group's order is taken now, before any await. The future
        resolves once the message is committed and published. `by_member`: refuse it (404) unless
        its author is a member of the group when it is written; the sender's read position then
        moves to it."""
        submission = _Submission(draft, by_member)
        queue = self._queues.get(draft.group_id)
        if queue is None:
            queue = self._queues[draft.group_id] = deque()
            self._spawn(self._write_queue(draft.group_id, queue))
        queue.append(submission)
        return submission.done

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def append(self, draft: Draft, *, by_member: bool) -> Appended:
        return await self.submit(draft, by_member=by_member)

    async def _write_queue(self, group_id: int, queue: deque[_Submission]) -> None:
        try:
            while queue:
                batch = [queue.popleft() for _ in range(min(len(queue), BATCH_MAX))]
                try:
                    await self._write(group_id, batch)
                except Exception as error:  # noqa: BLE001 -- handed to every waiting submitter
                    for submission in batch:
                        if not submission.done.done():
                            submission.done.set_exception(error)
        finally:
            del self._queues[group_id]

    async def _write(self, group_id: int, batch: list[_Submission]) -> None:
        members, direct = await self._members(group_id, {s.draft.author_id for s in batch if s.by_member})
        accepted = []
        for submission in batch:
            if submission.by_member and submission.draft.author_id not in members:
                if not submission.done.done():  # not a cancelled waiter
                    submission.done.set_exception(NotFound(GROUP_NOT_FOUND))
            else:
                accepted.append(submission)
        if not accepted:
            return
        drafts = [_in_direct_chat(s.draft) if direct else s.draft for s in accepted]
        results = await self._store.append(drafts)
        frames = [to_frame(message, signer=self._signer) for message, created in results if created]
        await self._events.to_group(group_id, *frames)
        if self.on_stored is not None:
            self.on_stored([message for message, created in results if created])
        readers: dict[int, int] = {}
        for submission, (message, created) in zip(accepted, results, strict=True):
            if created and submission.by_member and message.author_id is not None:
                readers[message.author_id] = max(message.seq, readers.get(message.author_id, 0))
        answers = list(zip(accepted, results, strict=True))
        if readers:
            # The group's next batch need not wait for these read positions; these senders do.
            self._spawn(self._answer_once_read(group_id, readers, answers))
        else:
            _answer(answers)

    async def _answer_once_read(
        self, group_id: int, readers: dict[int, int], answers: list[tuple[_Submission, Appended]]
    ) -> None:
        try:
            await self._mark_read(group_id, readers)
        finally:  # committed and published: answered even if the read update was cut short
            _answer(answers)

    async def _members(self, group_id: int, user_ids: set[int | None]) -> tuple[set[int], bool]:
        """The authors who are members, and whether the group is a direct chat (known only when
        one is a member; only members write there). A yes is remembered for a few seconds, until
        access changes (app/domain/grants.py): a busy member's messages skip the query."""
        grants = self._events.grants
        members: set[int] = set()
        direct = False
        unknown: list[int] = []
        for user_id in user_ids:
            if user_id is None:
                continue
            remembered: bool | None = grants.get(member_grant(group_id, user_id))
            if remembered is None:
                unknown.append(user_id)
            else:
                members.add(user_id)
                direct = remembered
        if not unknown:
            return members, direct
        asked = grants.generation
        async with autocommit(self._engine) as connection:
            rows = (await connection.execute(MEMBERS, {"group_id": group_id, "user_ids": unknown})).all()
        for row in rows:
            members.add(row.user_id)
            direct = row.is_direct
            grants.put(member_grant(group_id, row.user_id), row.is_direct, asked=asked)
        return members, direct

    async def _mark_read(self, group_id: int, positions: dict[int, int]) -> None:
        """A member has read what they wrote: move their read position forward to it (never back).
        Best effort: the messages are committed and published whatever happens here."""
        try:
            async with autocommit(self._engine) as connection:
                await connection.execute(
                    READ_FORWARD, [read_position(group_id, user, seq) for user, seq in positions.items()]
                )
        except DEPENDENCY_DOWN as error:
            log.warning("read positions of group %s not moved: %s", group_id, type(error).__name__)


def _answer(answers: list[tuple[_Submission, Appended]]) -> None:
    for submission, result in answers:
        if not submission.done.done():  # not a cancelled waiter
            submission.done.set_result(result)
