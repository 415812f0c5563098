"""Message store on MongoDB (pymongo's native async client), for deployments that set MONGODB_URL.

One document per message in `messages`, keyed by (group_id, seq), in seed 000's shape plus the other
Draft fields. A standalone mongod has no transactions, so the guarantees come from unique indexes:

- seq: read the group's max seq, insert max+1; the unique (group_id, seq) index turns a race into a
  DuplicateKeyError and the loser retries. A failed insert consumes nothing, so seqs stay gap-free.
- idempotency: a unique partial index on (group_id, author_id, client_msg_id), only where both ids are
  set (as SQL's NULLs never collide); hitting it means a retry of a stored message.
- reactions: a list of {emoji, user_id} pairs in reaction order, changed by single atomic updates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, TEXT, AsyncMongoClient, IndexModel, ReadPreference, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from app.domain.messages.store import Draft, StoredMessage

Document = dict[str, Any]

SEQ_INDEX = "group_seq"
CLIENT_ID_INDEX = "group_author_client_msg_id"
TEXT_INDEX = "text_search"
TIMEOUT_MS = 3_000  # server selection, connect and socket: an outage fails a request in seconds
APPEND_ATTEMPTS = 50  # each lost seq race is another sender's win: covers 50 concurrent senders to a group
_BACKOFF_BASE = 0.001
_BACKOFF_CAP = 0.032
_WORD = re.compile(r"\w+", re.UNICODE)
_INDEX_IN_ERRMSG = re.compile(r"index: (\S+)")
_OPTIONAL = [
    name
    for name in StoredMessage.__struct_fields__
    if name not in {"id", "group_id", "seq", "type", "user", "created_at", "text", "reactions"}
]
INDEXES = [
    IndexModel([("group_id", ASCENDING), ("seq", ASCENDING)], name=SEQ_INDEX, unique=True),
    IndexModel(
        [("group_id", ASCENDING), ("author_id", ASCENDING), ("client_msg_id", ASCENDING)],
        name=CLIENT_ID_INDEX,
        unique=True,
        partialFilterExpression={"author_id": {"$type": "number"}, "client_msg_id": {"$type": "string"}},
    ),
    # "none": no stemming and no stop words, like the SQL adapter's 'simple' / unicode61 tokenizers.
    IndexModel([("text", TEXT)], name=TEXT_INDEX, default_language="none"),
]


def bson_time(value: dt.datetime) -> dt.datetime:
    """The instant a BSON date keeps: UTC, whole milliseconds (naive means UTC, as pymongo reads it)."""
    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return aware.replace(microsecond=aware.microsecond // 1000 * 1000)


def new_document(draft: Draft, seq: int) -> Document:
    """The stored shape of a draft; every field is present (null when unset) so documents look alike."""
    document: Document = {"_id": ObjectId(), "seq": seq, **msgspec.structs.asdict(draft)}
    document |= {
        "attachments": msgspec.to_builtins(draft.attachments),
        "created_at": bson_time(draft.created_at),
        "edited_at": None,
        "deleted_at": None,
        "reactions": [],
    }
    return document


def reaction_map(pairs: Iterable[Mapping[str, Any]] | None) -> dict[str, list[int]]:
    """Stored {emoji, user_id} pairs, oldest first, as emoji -> user ids in the order they reacted."""
    reactions: dict[str, list[int]] = {}
    for pair in pairs or ():
        reactions.setdefault(str(pair["emoji"]), []).append(int(pair["user_id"]))
    return reactions


def to_stored(document: Mapping[str, Any]) -> StoredMessage:
    """A document as a StoredMessage; fields a seed-era document lacks take their defaults."""
    fields = {name: document.get(name) for name in _OPTIONAL}
    return msgspec.convert(
        {
            **fields,
            "id": str(document["_id"]),
            "group_id": document["group_id"],
            "seq": document["seq"],
            "type": document["type"],
            "user": document["user"],
            "created_at": document["created_at"],
            "text": document.get("text") or "",
            "reactions": reaction_map(document.get("reactions")),
            "attachments": document.get("attachments") or [],
        },
        StoredMessage,
    )


def text_search(query: str) -> str:
    """User text as a `$search` string: every word a quoted phrase, because Mongo ORs bare terms and
    ANDs phrases. Only word characters survive, so no quote, `-` or backslash can reach the parser;
    words of underscores alone are dropped (Mongo's tokenizer reads `_` as a delimiter: no term)."""
    return " ".join(f'"{word}"' for word in _WORD.findall(query) if word.strip("_"))


def violated_index(error: DuplicateKeyError) -> str | None:
    """The name of the unique index an insert hit, from the server's keyPattern or its errmsg."""
    details = error.details or {}
    pattern = details.get("keyPattern")
    if isinstance(pattern, Mapping):
        if "client_msg_id" in pattern:
            return CLIENT_ID_INDEX
        if "seq" in pattern:
            return SEQ_INDEX
    match = _INDEX_IN_ERRMSG.search(str(details.get("errmsg") or error))
    return match.group(1) if match else None


def backoff(attempt: int) -> float:
    """Full jitter, doubling to a small cap: racing senders spread out instead of colliding again."""
    return random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))  # noqa: S311 -- jitter, not crypto


def _live(group_id: int, seq: int) -> Document:
    return {"group_id": group_id, "seq": seq, "type": "message", "deleted_at": None}


class MongoMessageStore:
    """Create one per process (the client pools connections and binds to the first event loop that
    uses it); call `prepare()` once at start-up and `close()` at shutdown."""

    def __init__(self, url: str, database_name: str, *, timeout_ms: int = TIMEOUT_MS) -> None:
        self._client: AsyncMongoClient[Document] = AsyncMongoClient(
            url,
            tz_aware=True,
            tzinfo=dt.UTC,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
            appname="huddle",
        )
        self._database_name = database_name
        # Primary reads whatever the URL says: a sender reads its own message back right away.
        self._messages: AsyncCollection[Document] = self._client[database_name].get_collection(
            "messages", read_preference=ReadPreference.PRIMARY
        )

    async def prepare(self) -> None:
        """Create the indexes (a no-op when they exist). Documents without a seq (seed-era data) must be
        given one first, or the unique seq index cannot be built."""
        await self._messages.create_indexes(INDEXES)

    async def _next_seq(self, group_id: int) -> int:
        last = await self._messages.find_one(
            {"group_id": group_id}, projection={"_id": False, "seq": True}, sort=[("seq", DESCENDING)]
        )
        return 1 if last is None else int(last["seq"]) + 1

    async def _by_client_id(self, draft: Draft) -> StoredMessage | None:
        # The $type conditions repeat the partial index's filter so the planner may use that index.
        document = await self._messages.find_one(
            {
                "group_id": draft.group_id,
                "author_id": {"$eq": draft.author_id, "$type": "number"},
                "client_msg_id": {"$eq": draft.client_msg_id, "$type": "string"},
            }
        )
        return None if document is None else to_stored(document)

    async def append(self, drafts: Sequence[Draft]) -> list[tuple[StoredMessage, bool]]:
        if any(draft.group_id != drafts[0].group_id for draft in drafts):
            raise ValueError("one append writes to one group")
        # One by one: without a multi-document transaction, a batch would leave a gap in the seqs if
        # its insert failed half way.
        return [await self._append_one(draft) for draft in drafts]

    async def _append_one(self, draft: Draft) -> tuple[StoredMessage, bool]:
        for attempt in range(APPEND_ATTEMPTS):
            document = new_document(draft, await self._next_seq(draft.group_id))
            try:
                await self._messages.insert_one(document)
            except DuplicateKeyError as error:
                index = violated_index(error)
                if index not in {SEQ_INDEX, CLIENT_ID_INDEX}:
                    raise
                # A concurrent duplicate may first lose the seq race; its retry then hits this index.
                if index == CLIENT_ID_INDEX and (existing := await self._by_client_id(draft)):
                    return existing, False
                await asyncio.sleep(backoff(attempt))
            else:
                return to_stored(document), True
        raise RuntimeError(f"no free seq in group {draft.group_id} after {APPEND_ATTEMPTS} attempts")

    async def get(self, group_id: int, seq: int) -> StoredMessage | None:
        document = await self._messages.find_one({"group_id": group_id, "seq": seq})
        return None if document is None else to_stored(document)

    async def _find(
        self,
        query: Document,
        sort: list[tuple[str, int]],
        *,
        offset: int = 0,
        limit: int,
        projection: Document | None = None,
    ) -> list[StoredMessage]:
        if limit <= 0:  # Mongo reads limit 0 as "no limit"; SQL's LIMIT 0 returns nothing
            return []
        cursor = self._messages.find(query, projection, sort=sort, skip=offset, limit=limit)
        return [to_stored(document) for document in await cursor.to_list()]

    async def window(
        self, group_id: int, *, before_seq: int | None = None, after_seq: int | None = None, limit: int
    ) -> list[StoredMessage]:
        seq_range: Document = {}
        if after_seq is not None:
            seq_range["$gt"] = after_seq
        if before_seq is not None:
            seq_range["$lt"] = before_seq
        query: Document = {"group_id": group_id} | ({"seq": seq_range} if seq_range else {})
        if after_seq is not None:
            return await self._find(query, [("seq", ASCENDING)], limit=limit)
        return (await self._find(query, [("seq", DESCENDING)], limit=limit))[::-1]

    async def newest_first(self, group_id: int, *, offset: int, limit: int) -> list[StoredMessage]:
        return await self._find({"group_id": group_id}, [("seq", DESCENDING)], offset=offset, limit=limit)

    async def _update_live(self, group_id: int, seq: int, values: Document) -> StoredMessage | None:
        document = await self._messages.find_one_and_update(
            _live(group_id, seq), {"$set": values}, return_document=ReturnDocument.AFTER
        )
        return None if document is None else to_stored(document)

    async def edit(self, group_id: int, seq: int, text: str, at: dt.datetime) -> StoredMessage | None:
        return await self._update_live(group_id, seq, {"text": text, "edited_at": at})

    async def tombstone(self, group_id: int, seq: int, at: dt.datetime) -> StoredMessage | None:
        return await self._update_live(
            group_id,
            seq,
            {"text": "", "deleted_at": at, "video_id": None, "reactions": [], "attachments": []},
        )

    async def react(
        self, group_id: int, seq: int, user_id: int, emoji: str, add: bool
    ) -> dict[str, list[int]] | None:
        # Emoji are values, never field names: no escaping of `.` or a leading `$`, and the pair list
        # keeps reaction order across emoji, as the SQL adapter's created_at ordering does.
        pair = {"emoji": emoji, "user_id": user_id}
        live = _live(group_id, seq)
        projection = {"_id": False, "reactions": True}
        if add:
            # The filter makes the push a no-op when the pair exists: $addToSet that keeps order.
            document = await self._messages.find_one_and_update(
                live | {"reactions": {"$not": {"$elemMatch": pair}}},
                {"$push": {"reactions": pair}},
                projection=projection,
                return_document=ReturnDocument.AFTER,
            )
            if document is None:  # already reacted, or no live chat message
                document = await self._messages.find_one(live, projection=projection)
        else:
            document = await self._messages.find_one_and_update(
                live,
                {"$pull": {"reactions": pair}},
                projection=projection,
                return_document=ReturnDocument.AFTER,
            )
        return None if document is None else reaction_map(document.get("reactions"))

    async def latest(self, group_ids: Sequence[int]) -> dict[int, StoredMessage]:
        if not group_ids:
            return {}
        pipeline: list[Document] = [
            {"$match": {"group_id": {"$in": list(group_ids)}}},
            # Both keys descending: the unique index walked backwards, no in-memory sort.
            {"$sort": {"group_id": DESCENDING, "seq": DESCENDING}},
            {"$group": {"_id": "$group_id", "message": {"$first": "$$ROOT"}}},
            {"$replaceRoot": {"newRoot": "$message"}},
            {"$project": {"reactions": False}},  # as the SQL adapter: previews carry no reactions
        ]
        cursor = await self._messages.aggregate(pipeline)
        return {message.group_id: message for message in map(to_stored, await cursor.to_list())}

    async def deleted_after(self, positions: Mapping[int, int]) -> dict[int, int]:
        if not positions:
            return {}
        after: list[Document] = [{"group_id": group, "seq": {"$gt": seq}} for group, seq in positions.items()]
        pipeline: list[Document] = [
            {"$match": {"$or": after, "deleted_at": {"$ne": None}}},
            {"$group": {"_id": "$group_id", "count": {"$sum": 1}}},
        ]
        cursor = await self._messages.aggregate(pipeline)
        return {row["_id"]: row["count"] for row in await cursor.to_list()}

    async def search(
        self, group_ids: Sequence[int], query: str, *, limit: int, offset: int
    ) -> list[StoredMessage]:
        phrases = text_search(query)
        if not group_ids or not phrases:
            return []
        condition: Document = {
            "$text": {"$search": phrases},
            "group_id": {"$in": list(group_ids)},
            "type": "message",
            "deleted_at": None,
        }
        return await self._find(
            condition,
            [("created_at", DESCENDING), ("_id", DESCENDING)],
            offset=offset,
            limit=limit,
            projection={"reactions": False},  # as the SQL adapter: hits carry no reactions
        )

    async def drop_group(self, group_id: int) -> None:
        await self._messages.delete_many({"group_id": group_id})

    async def forget_email(self, user_id: int, email: str, replacement: str) -> None:
        for field in ("user", "user_email"):
            await self._messages.update_many(
                {"author_id": user_id, field: email}, {"$set": {field: replacement}}
            )

    async def ping(self) -> None:
        await self._client.admin.command("ping")

    async def drop_database(self) -> None:
        """Remove this store's whole database (tests)."""
        await self._client.drop_database(self._database_name)

    async def close(self) -> None:
        await self._client.close()
