"""Message store on the SQL database (PostgreSQL or SQLite), each write its own short transaction.

SQLAlchemy Core on pooled connections, no ORM session: a message is written once and never loaded
back into an identity map, and the session's unit of work cost more CPU than the statements. Reads
run outside a transaction (`autocommit`), sparing PostgreSQL a BEGIN and a ROLLBACK round trip each.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import (
    JSON,
    BigInteger,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.dialects import insert_for
from app.db.engine import autocommit
from app.db.models.messages import GroupSequence, MentionRow, MessageRow, ReactionRow
from app.domain.messages.search_terms import split_query
from app.domain.messages.store import AttachmentRef, Draft, StoredMessage

_ClientKey = tuple[int, str]
_FIELDS = [name for name in Draft.__struct_fields__ if name not in {"created_at", "attachments", "mentions"}]
_MESSAGES: Table = MessageRow.__table__  # type: ignore[assignment]
# Core, not the ORM's unit of work: one multi-row INSERT whose ids come back in the rows' order.
_INSERT = insert(_MESSAGES).returning(_MESSAGES.c.id, sort_by_parameter_order=True)


def _seq_upsert(upsert: Any) -> Any:
    count = bindparam("seq_count", type_=BigInteger)
    return (
        upsert(GroupSequence)
        .values(group_id=bindparam("seq_group"), last_seq=count)
        .on_conflict_do_update(
            index_elements=[GroupSequence.group_id], set_={"last_seq": GroupSequence.last_seq + count}
        )
        .returning(GroupSequence.last_seq)
    )


_SEQ_UPSERTS = {"postgresql": _seq_upsert(postgresql.insert), "sqlite": _seq_upsert(sqlite.insert)}
# What a draft sets of its row; the seq is the store's.
_DRAFT_COLUMNS = [_MESSAGES.c[name] for name in (*_FIELDS, "created_at", "attachments", "mentions")]
_JSON = {"attachments", "mentions"}


def _insert_taking_seqs() -> Any:
    """PostgreSQL: new messages that take their seqs as they are inserted, in one statement (the seq
    upsert as a data-modifying CTE) and so one round trip outside any transaction, where a
    transaction costs four (BEGIN, the upsert, the insert, COMMIT). Each column comes as one array
    (`<column>s`), so the statement is the same for any number of messages and compiles once. JSON
    columns come as text (a list in an array would be read as another dimension)."""
    taken = _SEQ_UPSERTS["postgresql"].cte("taken")
    names = [column.name for column in _DRAFT_COLUMNS]
    arrays = [
        bindparam(f"{column.name}s", type_=postgresql.ARRAY(Text if column.name in _JSON else column.type))
        for column in _DRAFT_COLUMNS
    ]
    rows = func.unnest(*arrays).table_valued(*names, with_ordinality="ordinal").render_derived()
    values = [cast(rows.c[name], JSON) if name in _JSON else rows.c[name] for name in names]
    first = select(taken.c.last_seq).scalar_subquery() - bindparam("seq_count", type_=BigInteger)
    return (
        insert(_MESSAGES)
        .add_cte(taken)
        .from_select([*names, "seq"], select(*values, first + rows.c.ordinal))
        .returning(_MESSAGES.c.id, _MESSAGES.c.seq)
    )


_INSERT_TAKING_SEQS = _insert_taking_seqs()
_json = msgspec.json.Encoder()
_WORD = re.compile(r"\w+", re.UNICODE)


def _stored(row: Any, reactions: dict[str, list[int]] | None = None) -> StoredMessage:
    return StoredMessage(
        id=str(row.id),
        group_id=row.group_id,
        seq=row.seq,
        type=row.type,
        user=row.user,
        created_at=row.created_at,
        text=row.text,
        author_id=row.author_id,
        user_name=row.user_name,
        client_msg_id=row.client_msg_id,
        reply_to=row.reply_to,
        user_email=row.user_email,
        video_action=row.video_action,
        video_name=row.video_name,
        video_time=row.video_time,
        video_id=row.video_id,
        attachments=msgspec.convert(row.attachments or [], tuple[AttachmentRef, ...]),
        mentions=tuple(row.mentions or ()),
        edited_at=row.edited_at,
        deleted_at=row.deleted_at,
        reactions=reactions or {},
    )


def _row(message: StoredMessage) -> dict[str, Any]:
    row = {field: getattr(message, field) for field in _FIELDS}
    row.update(seq=message.seq, created_at=message.created_at)
    row["attachments"] = msgspec.to_builtins(message.attachments) or None
    row["mentions"] = list(message.mentions) or None
    return row


def _mention_rows(group_id: int, seq: int, mentions: Sequence[int]) -> list[dict[str, int]]:
    return [{"user_id": user_id, "group_id": group_id, "seq": seq} for user_id in dict.fromkeys(mentions)]


def _with(message: StoredMessage, reactions: dict[int, dict[str, list[int]]]) -> StoredMessage:
    found = reactions.get(message.seq)
    return message if found is None else msgspec.structs.replace(message, reactions=found)


def _client_key(draft: Draft) -> _ClientKey | None:
    """Only an author's own client ids are deduplicated (a NULL author never matches, as in the index)."""
    if draft.client_msg_id is None or draft.author_id is None:
        return None
    return draft.author_id, draft.client_msg_id


def fts5_query(query: str) -> str:
    """User text as an FTS5 query that cannot be a syntax error: every word quoted, all required."""
    return " ".join(f'"{word}"' for word in _WORD.findall(query))


class SQLMessageStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _take_seqs(self, db: AsyncConnection, group_id: int, count: int) -> int:
        """Reserve `count` seqs; returns the last. An upsert takes the row lock (PostgreSQL) or the
        write lock (SQLite) first, so concurrent writers queue here instead of deadlocking on a
        read-then-write upgrade."""
        statement = _SEQ_UPSERTS[db.dialect.name]
        return int((await db.execute(statement, {"seq_group": group_id, "seq_count": count})).scalar_one())

    async def _by_client_ids(
        self, db: AsyncConnection, group_id: int, keys: set[_ClientKey]
    ) -> dict[_ClientKey, Any]:
        if not keys:
            return {}
        rows = await db.execute(
            select(MessageRow).where(
                MessageRow.group_id == group_id,
                tuple_(MessageRow.author_id, MessageRow.client_msg_id).in_(list(keys)),
            )
        )
        return {(row.author_id, row.client_msg_id): row for row in rows}

    async def append(self, drafts: Sequence[Draft]) -> list[tuple[StoredMessage, bool]]:
        group_id = drafts[0].group_id
        if any(draft.group_id != group_id for draft in drafts):
            raise ValueError("one append writes to one group")
        if self._engine.dialect.name == "postgresql":
            appended = await self._append_at_once(group_id, drafts)
            if appended is not None:
                return appended
        for attempt in range(2):  # a concurrent duplicate of a client_msg_id loses at the unique index
            try:
                async with self._engine.begin() as db:
                    return await self._append(db, group_id, drafts)
            except IntegrityError:
                if attempt or not any(map(_client_key, drafts)):
                    raise
        raise AssertionError("unreachable")

    async def _append_at_once(
        self, group_id: int, drafts: Sequence[Draft]
    ) -> list[tuple[StoredMessage, bool]] | None:
        """The common case in one statement: every draft is new. None when that is not known to be
        so: a draft mentions someone (its mention rows need its seq first), a client id repeats
        within the batch, or one is stored already (the unique index refuses the whole statement,
        which changes nothing); `_append` then sorts them out under the seq lock."""
        if any(draft.mentions for draft in drafts):
            return None
        keys = [key for key in map(_client_key, drafts) if key]
        if len(set(keys)) < len(keys):
            return None
        new = [StoredMessage(**msgspec.structs.asdict(draft), id="", seq=0) for draft in drafts]
        rows = [_row(message) for message in new]
        parameters: dict[str, Any] = {"seq_group": group_id, "seq_count": len(new)}
        for column in _DRAFT_COLUMNS:
            values = [row[column.name] for row in rows]
            if column.name in _JSON:
                values = [None if value is None else _json.encode(value).decode() for value in values]
            parameters[f"{column.name}s"] = values
        try:
            async with autocommit(self._engine) as db:
                returned = (await db.execute(_INSERT_TAKING_SEQS, parameters)).all()
        except IntegrityError:
            return None
        stored = sorted(returned, key=lambda row: row.seq)  # the i-th draft took the i-th seq of the range
        return [
            (msgspec.structs.replace(message, id=str(row.id), seq=row.seq), True)
            for message, row in zip(new, stored, strict=True)
        ]

    async def _append(
        self, db: AsyncConnection, group_id: int, drafts: Sequence[Draft]
    ) -> list[tuple[StoredMessage, bool]]:
        """One transaction: reserve a seq per draft (the lock makes the client id check below race
        free), store the new ones in one insert, give back the seqs of the ones already stored."""
        last = await self._take_seqs(db, group_id, len(drafts))
        keys = {key for key in map(_client_key, drafts) if key}
        known = {key: _stored(row) for key, row in (await self._by_client_ids(db, group_id, keys)).items()}
        seq = last - len(drafts)
        new: list[StoredMessage] = []
        slots: list[tuple[StoredMessage | int, bool]] = []  # a stored message, or an index into `new`
        fresh: dict[_ClientKey, int] = {}
        for draft in drafts:
            key = _client_key(draft)
            if key and key in known:
                slots.append((known[key], False))
            elif key and key in fresh:
                slots.append((fresh[key], False))  # a repeat within the batch is a retry of that one
            else:
                seq += 1
                if key:
                    fresh[key] = len(new)
                slots.append((len(new), True))
                new.append(StoredMessage(**msgspec.structs.asdict(draft), id="", seq=seq))
        if new:
            ids = (await db.execute(_INSERT, [_row(message) for message in new])).scalars().all()
            new = [msgspec.structs.replace(message, id=str(i)) for message, i in zip(new, ids, strict=True)]
            mentioned = [row for m in new for row in _mention_rows(group_id, m.seq, m.mentions)]
            if mentioned:
                await db.execute(insert(MentionRow), mentioned)
        if seq < last:
            await db.execute(
                update(GroupSequence).where(GroupSequence.group_id == group_id).values(last_seq=seq)
            )
        reactions = await self._reactions(
            db, group_id, [m.seq for m, _ in slots if isinstance(m, StoredMessage)]
        )
        return [
            (new[slot] if isinstance(slot, int) else _with(slot, reactions), created)
            for slot, created in slots
        ]

    async def _reactions(
        self, db: AsyncConnection, group_id: int, seqs: Sequence[int]
    ) -> dict[int, dict[str, list[int]]]:
        if not seqs:
            return {}
        low, high = min(seqs), max(seqs)
        # A page of history is a run of consecutive seqs (they have no gaps): a range no wider than the
        # list is one statement whatever the page's length, where IN (...) is rendered and prepared
        # once per length. Such a range holds no more seqs than were asked for, and callers read
        # only those they asked for.
        wanted = ReactionRow.seq.between(low, high) if high - low < len(seqs) else ReactionRow.seq.in_(seqs)
        rows = await db.execute(
            select(ReactionRow.seq, ReactionRow.emoji, ReactionRow.user_id)
            .where(ReactionRow.group_id == group_id, wanted)
            .order_by(ReactionRow.created_at, ReactionRow.user_id)
        )
        result: dict[int, dict[str, list[int]]] = {}
        for seq, emoji, user_id in rows:
            result.setdefault(seq, {}).setdefault(emoji, []).append(user_id)
        return result

    async def _with_reactions(self, db: AsyncConnection, row: Any) -> StoredMessage:
        reactions = await self._reactions(db, row.group_id, [row.seq])
        return _stored(row, reactions.get(row.seq))

    async def _list(self, db: AsyncConnection, group_id: int, query: Select[Any]) -> list[StoredMessage]:
        rows = list(await db.execute(query))
        reactions = await self._reactions(db, group_id, [row.seq for row in rows])
        return [_stored(row, reactions.get(row.seq)) for row in rows]

    async def get(self, group_id: int, seq: int) -> StoredMessage | None:
        async with autocommit(self._engine) as db:
            rows = await db.execute(
                select(MessageRow).where(MessageRow.group_id == group_id, MessageRow.seq == seq)
            )
            row = rows.first()
            return None if row is None else await self._with_reactions(db, row)

    async def window(
        self, group_id: int, *, before_seq: int | None = None, after_seq: int | None = None, limit: int
    ) -> list[StoredMessage]:
        query = select(MessageRow).where(MessageRow.group_id == group_id)
        async with autocommit(self._engine) as db:
            if after_seq is not None:
                query = query.where(MessageRow.seq > after_seq)
                if before_seq is not None:
                    query = query.where(MessageRow.seq < before_seq)
                return await self._list(db, group_id, query.order_by(MessageRow.seq).limit(limit))
            if before_seq is not None:
                query = query.where(MessageRow.seq < before_seq)
            messages = await self._list(db, group_id, query.order_by(MessageRow.seq.desc()).limit(limit))
            return messages[::-1]

    async def newest_first(self, group_id: int, *, offset: int, limit: int) -> list[StoredMessage]:
        query = (
            select(MessageRow)
            .where(MessageRow.group_id == group_id)
            .order_by(MessageRow.seq.desc())
            .offset(offset)
            .limit(limit)
        )
        async with autocommit(self._engine) as db:
            return await self._list(db, group_id, query)

    async def _update(self, group_id: int, seq: int, values: dict[str, Any]) -> StoredMessage | None:
        async with self._engine.begin() as db:
            result = await db.execute(
                update(MessageRow)
                .where(
                    MessageRow.group_id == group_id,
                    MessageRow.seq == seq,
                    MessageRow.type == "message",
                    MessageRow.deleted_at.is_(None),
                )
                .values(**values)
                .returning(MessageRow)
            )
            row = result.first()
            if row is None:
                return None
            if "deleted_at" in values:
                await db.execute(
                    delete(ReactionRow).where(ReactionRow.group_id == group_id, ReactionRow.seq == seq)
                )
            if "mentions" in values:  # an edit's or a tombstone's: the index follows what is shown
                await db.execute(
                    delete(MentionRow).where(MentionRow.group_id == group_id, MentionRow.seq == seq)
                )
                if values["mentions"]:
                    await db.execute(insert(MentionRow), _mention_rows(group_id, seq, values["mentions"]))
            return await self._with_reactions(db, row)

    async def edit(
        self, group_id: int, seq: int, text: str, at: dt.datetime, mentions: Sequence[int] = ()
    ) -> StoredMessage | None:
        return await self._update(
            group_id, seq, {"text": text, "edited_at": at, "mentions": list(dict.fromkeys(mentions)) or None}
        )

    async def tombstone(self, group_id: int, seq: int, at: dt.datetime) -> StoredMessage | None:
        return await self._update(
            group_id,
            seq,
            {"text": "", "deleted_at": at, "video_id": None, "attachments": None, "mentions": None},
        )

    async def react(
        self, group_id: int, seq: int, user_id: int, emoji: str, add: bool
    ) -> dict[str, list[int]] | None:
        async with self._engine.begin() as db:
            live = await db.scalar(
                select(MessageRow.id).where(
                    MessageRow.group_id == group_id,
                    MessageRow.seq == seq,
                    MessageRow.type == "message",
                    MessageRow.deleted_at.is_(None),
                )
            )
            if live is None:
                return None
            if add:
                insert = insert_for(db)
                await db.execute(
                    insert(ReactionRow)
                    .values(
                        group_id=group_id,
                        seq=seq,
                        user_id=user_id,
                        emoji=emoji,
                        created_at=dt.datetime.now(dt.UTC),
                    )
                    .on_conflict_do_nothing()
                )
            else:
                await db.execute(
                    delete(ReactionRow).where(
                        ReactionRow.group_id == group_id,
                        ReactionRow.seq == seq,
                        ReactionRow.user_id == user_id,
                        ReactionRow.emoji == emoji,
                    )
                )
            return (await self._reactions(db, group_id, [seq])).get(seq, {})

    async def latest(self, group_ids: Sequence[int]) -> dict[int, StoredMessage]:
        if not group_ids:
            return {}
        query = (
            select(MessageRow)
            .join(
                GroupSequence,
                (GroupSequence.group_id == MessageRow.group_id) & (GroupSequence.last_seq == MessageRow.seq),
            )
            .where(GroupSequence.group_id.in_(group_ids))
        )
        async with autocommit(self._engine) as db:
            return {row.group_id: _stored(row) for row in await db.execute(query)}

    async def deleted_after(self, positions: Mapping[int, int]) -> dict[int, int]:
        after = [(MessageRow.group_id == group) & (MessageRow.seq > seq) for group, seq in positions.items()]
        if not after:
            return {}
        # The partial index ix_messages_deleted holds only deleted rows: this never walks live history.
        query = (
            select(MessageRow.group_id, func.count())
            .where(MessageRow.deleted_at.is_not(None), or_(*after))
            .group_by(MessageRow.group_id)
        )
        async with autocommit(self._engine) as db:
            return dict((await db.execute(query)).all())  # the rows: a Result has keys(), unlike a mapping

    async def mention_counts(self, user_id: int, positions: Mapping[int, int]) -> dict[int, int]:
        after = [(MentionRow.group_id == group) & (MentionRow.seq > seq) for group, seq in positions.items()]
        if not after:
            return {}
        # Tombstones drop their rows: every row left is a live message's.
        query = (
            select(MentionRow.group_id, func.count())
            .where(MentionRow.user_id == user_id, or_(*after))
            .group_by(MentionRow.group_id)
        )
        async with autocommit(self._engine) as db:
            return dict((await db.execute(query)).all())

    async def mentioning(
        self, user_id: int, group_ids: Sequence[int], *, limit: int, offset: int
    ) -> list[StoredMessage]:
        if not group_ids:
            return []
        query = (
            select(MessageRow)
            .join(
                MentionRow, (MentionRow.group_id == MessageRow.group_id) & (MentionRow.seq == MessageRow.seq)
            )
            .where(MentionRow.user_id == user_id, MentionRow.group_id.in_(group_ids))
            .order_by(MessageRow.created_at.desc(), MessageRow.id.desc())
            .offset(offset)
            .limit(limit)
        )
        async with autocommit(self._engine) as db:
            return [_stored(row) for row in await db.execute(query)]

    async def search(
        self, group_ids: Sequence[int], query: str, *, limit: int, offset: int
    ) -> list[StoredMessage]:
        if not group_ids:
            return []
        statement = select(MessageRow).where(
            MessageRow.group_id.in_(group_ids), MessageRow.type == "message", MessageRow.deleted_at.is_(None)
        )
        words, fragments = split_query(query)
        if not words and not fragments:
            return []
        async with autocommit(self._engine) as db:
            postgres = db.dialect.name == "postgresql"
            if words and postgres:
                vector = func.to_tsvector(literal_column("'simple'"), MessageRow.text)
                statement = statement.where(
                    vector.op("@@")(func.plainto_tsquery(literal_column("'simple'"), " ".join(words)))
                )
            elif words:
                statement = statement.where(
                    MessageRow.id.in_(
                        sql_text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH :q").bindparams(
                            q=fts5_query(" ".join(words))
                        )
                    )
                )
            position = func.strpos if postgres else func.instr
            for fragment in fragments:  # what no tokenizer keeps: a scan of the groups' messages
                statement = statement.where(position(func.lower(MessageRow.text), fragment) > 0)
            rows = await db.execute(
                statement.order_by(MessageRow.created_at.desc(), MessageRow.id.desc())
                .offset(offset)
                .limit(limit)
            )
            return [_stored(row) for row in rows]

    async def drop_group(self, group_id: int) -> None:
        async with self._engine.begin() as db:
            await db.execute(delete(ReactionRow).where(ReactionRow.group_id == group_id))
            await db.execute(delete(MentionRow).where(MentionRow.group_id == group_id))
            await db.execute(delete(MessageRow).where(MessageRow.group_id == group_id))
            await db.execute(delete(GroupSequence).where(GroupSequence.group_id == group_id))

    async def forget_email(self, user_id: int, email: str, replacement: str) -> None:
        async with self._engine.begin() as db:
            mine = MessageRow.author_id == user_id
            await db.execute(
                update(MessageRow).where(mine, MessageRow.user == email).values(user=replacement)
            )
            await db.execute(
                update(MessageRow).where(mine, MessageRow.user_email == email).values(user_email=replacement)
            )

    async def prepare(self) -> None:
        return None  # the schema, search index included, comes from the migrations

    async def ping(self) -> None:
        async with autocommit(self._engine) as db:
            await db.execute(sql_text("SELECT 1"))

    async def close(self) -> None:
        return None  # the engine belongs to the runtime
