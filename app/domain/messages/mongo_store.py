"""Message store on MongoDB (pymongo's native async client), for deployments that set MONGODB_URL.

One document per message in `messages`, keyed by (group_id, seq), in seed 000's shape plus the other
Draft fields. It uses only what every MongoDB-protocol server tested or named in the README has (no
text index, no JavaScript); the guarantees come from unique indexes:

- seq: read the group's max seq, insert a batch as max+1.. in one ordered `insert_many`; the unique
  (group_id, seq) index turns a race into a duplicate-key error and the loser retries. Where the server
  has transactions (a replica set, Atlas, SecantusDB) the insert runs in one, so a batch is stored
  all-or-nothing; on a standalone mongod the prefix stored before a race is kept (its seqs are the
  group's next ones) and the rest retried. A failed insert consumes nothing: seqs stay gap-free.
- idempotency: a unique partial index on (group_id, author_id, client_msg_id), only where both ids are
  set (as SQL's NULLs never collide); hitting it means a retry of a stored message.
- reactions: a list of {emoji, user_id} pairs in reaction order, changed by single atomic updates.
- search: `words`, the text's words case- and accent-folded, under a multikey index; text no
  tokenizer splits (unspaced scripts, emoji, `C++`) is a case-insensitive `$regex`, within a time
  budget. MongoDB's `$text` is not used: SecantusDB, Cosmos DB, DocumentDB and FerretDB lack or limit
  it, and its phrase matching is not the SQL stores' whole-word matching.
- seed-era documents (no `seq`, no `words`) get them in `prepare()`, before the unique index is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pymongo
from bson import ObjectId
from pymongo import (
    ASCENDING,
    DESCENDING,
    AsyncMongoClient,
    IndexModel,
    ReadPreference,
    ReturnDocument,
    UpdateOne,
)
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from app.domain.messages.search_terms import split_query
from app.domain.messages.store import Draft, StoredMessage
from app.errors import Saturated

log = logging.getLogger("huddle.messages.mongo")

Document = dict[str, Any]

SEQ_INDEX = "group_seq"
CLIENT_ID_INDEX = "group_author_client_msg_id"
WORDS_INDEX = "words_group"
MENTIONS_INDEX = "mentions_group_seq"
OLD_TEXT_INDEX = "text_search"  # earlier versions' $text index: dropped by prepare(), nothing reads it
TIMEOUT_MS = 3_000  # each operation, server selection, connect: an outage fails a request in seconds
SEARCH_BUDGET_MS = 2_000  # a search's server time (a substring is a scan of the groups' messages)
APPEND_ATTEMPTS = 50  # each lost seq race is another sender's win: covers 50 concurrent senders to a group
BACKFILL_CHUNK = 1_000  # seed-era documents given a seq or words per round trip
BACKFILL_STEP_S = 20  # one chunk's budget (not TIMEOUT_MS: a thousand updates are not a request)
SCHEMA_VERSION = 1  # huddle_meta "messages": seed-era seqs and everyone's words are backfilled
LEASE = dt.timedelta(
    seconds=60
)  # more than a step's budget; how long a dead worker's backfill lease blocks the others
DUPLICATE_KEY = 11000
INDEX_NOT_FOUND = 27
_BACKOFF_BASE = 0.001
_BACKOFF_CAP = 0.128  # a few of a slow server's round trips: racers must spread out past them
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
    # Multikey: one entry per word; `$all` walks the first word's entries.
    IndexModel([("words", ASCENDING), ("group_id", ASCENDING)], name=WORDS_INDEX),
    # Multikey: one entry per mentioned user, for unread mention counts and the Mentions view.
    IndexModel([("mentions", ASCENDING), ("group_id", ASCENDING), ("seq", ASCENDING)], name=MENTIONS_INDEX),
]
NOT_READ: Document = {"words": False}  # stored for search only: never sent back
# A document without a seq (written by seed 000's service after prepare() numbered the others: the
# README says to stop it first) is not a message Huddle can place: reads skip it instead of failing.
NUMBERED: Document = {"seq": {"$gt": 0}}


def bson_time(value: dt.datetime) -> dt.datetime:
    """The instant a BSON date keeps: UTC, whole milliseconds (naive means UTC, as pymongo reads it)."""
    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return aware.replace(microsecond=aware.microsecond // 1000 * 1000)


def fold(text: str) -> str:
    """Case and accents away: `Zoë` and `ZOE` are one word, as the SQL stores' tokenizers see it."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def search_words(text: str) -> list[str]:
    """What a message's `words` holds: its distinct folded words, in order of first appearance."""
    return list(dict.fromkeys(_WORD.findall(fold(text))))


def new_document(draft: Draft, seq: int) -> Document:
    """The stored shape of a draft; every field is present (null when unset) so documents look alike."""
    document: Document = {"_id": ObjectId(), "seq": seq, **msgspec.structs.asdict(draft)}
    document |= {
        "attachments": msgspec.to_builtins(draft.attachments),
        "mentions": list(dict.fromkeys(draft.mentions)),
        "created_at": bson_time(draft.created_at),
        "edited_at": None,
        "deleted_at": None,
        "reactions": [],
        "words": search_words(draft.text),
    }
    return document


def reaction_map(pairs: Iterable[Mapping[str, Any]] | None) -> dict[str, list[int]]:
    """Stored {emoji, user_id} pairs, oldest first, as emoji -> user ids in the order they reacted."""
    reactions: dict[str, list[int]] = {}
    for pair in pairs or ():
        reactions.setdefault(str(pair["emoji"]), []).append(int(pair["user_id"]))
    return reactions


def to_stored(document: Mapping[str, Any]) -> StoredMessage:
    """A document as a StoredMessage; fields a seed-era document lacks take their defaults (a seed
    notice may have no `created_at`: its ObjectId's time stands in). Its `seq` comes from prepare()."""
    fields = {name: document.get(name) for name in _OPTIONAL}
    created_at = document.get("created_at")
    if created_at is None and isinstance(document["_id"], ObjectId):
        created_at = document["_id"].generation_time
    return msgspec.convert(
        {
            **fields,
            "id": str(document["_id"]),
            "group_id": document["group_id"],
            "seq": document["seq"],
            "type": document.get("type") or "message",
            "user": document.get("user") or "system",
            "created_at": created_at,
            "text": document.get("text") or "",
            "reactions": reaction_map(document.get("reactions")),
            "attachments": document.get("attachments") or [],
            "mentions": document.get("mentions") or [],
        },
        StoredMessage,
    )


def search_condition(group_ids: Sequence[int], query: str) -> Document | None:
    """The filter of a search: every word of the query among the message's `words`, every fragment
    (what no tokenizer keeps) a case-insensitive substring of its text; None when nothing is asked.
    Fragments reach the server escaped: user text is never a pattern or an operator."""
    terms = split_query(query)
    words = list(dict.fromkeys(word for term in terms.words for word in search_words(term)))
    if not group_ids or not (words or terms.fragments):
        return None
    condition: Document = {"group_id": {"$in": list(group_ids)}, "type": "message", "deleted_at": None}
    condition |= NUMBERED
    if words:
        condition["words"] = {"$all": words}
    if terms.fragments:
        condition["$and"] = [
            {"text": {"$regex": re.escape(fragment), "$options": "i"}} for fragment in terms.fragments
        ]
    return condition


def violated_index(error: DuplicateKeyError | Mapping[str, Any]) -> str | None:
    """The name of the unique index an insert hit, from the server's keyPattern or its errmsg (of a
    DuplicateKeyError, or of one write error of a BulkWriteError)."""
    details = (error.details or {}) if isinstance(error, DuplicateKeyError) else error
    pattern = details.get("keyPattern")
    if isinstance(pattern, Mapping):
        if "client_msg_id" in pattern:
            return CLIENT_ID_INDEX
        if "seq" in pattern:
            return SEQ_INDEX
    errmsg = details.get("errmsg") or (str(error) if isinstance(error, DuplicateKeyError) else "")
    match = _INDEX_IN_ERRMSG.search(str(errmsg))
    return match.group(1) if match else None


def backoff(attempt: int) -> float:
    """Full jitter, doubling to a small cap: racing senders spread out instead of colliding again."""
    return random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))  # noqa: S311 -- jitter, not crypto


def _live(group_id: int, seq: int) -> Document:
    return {"group_id": group_id, "seq": seq, "type": "message", "deleted_at": None}


def client_key(draft: Draft) -> tuple[int, str] | None:
    """What the client-id index keys a draft by; None when it is not covered (no author or no id)."""
    if draft.author_id is None or draft.client_msg_id is None:
        return None
    return draft.author_id, draft.client_msg_id


def _first_write_error(error: BulkWriteError) -> Mapping[str, Any]:
    errors = error.details.get("writeErrors") or [{}]
    return dict(errors[0])


class MongoMessageStore:
    """Create one per process (the client pools connections and binds to the first event loop that
    uses it); call `prepare()` once at start-up and `close()` at shutdown."""

    def __init__(self, url: str, database_name: str, *, timeout_ms: int = TIMEOUT_MS) -> None:
        self._client: AsyncMongoClient[Document] = AsyncMongoClient(
            url,
            tz_aware=True,
            tzinfo=dt.UTC,
            # timeoutMS bounds a whole operation, the driver's one retry of a read or write included
            # (socketTimeoutMS alone let a frozen server hold a request for three of them).
            timeoutMS=timeout_ms,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            # Acknowledged means journaled on a majority, as a PostgreSQL commit is on disk: a message
            # is published once stored, and w:1 without the journal can lose the last ~100 ms of
            # acknowledged writes to a crash (or, on a replica set, to a failover's rollback).
            w="majority",
            journal=True,
            appname="huddle",
        )
        self._database_name = database_name
        database = self._client[database_name]
        # Primary reads whatever the URL says: a sender reads its own message back right away.
        self._messages: AsyncCollection[Document] = database.get_collection(
            "messages", read_preference=ReadPreference.PRIMARY
        )
        # Leases and the schema version: tiny documents beside the messages.
        self._meta: AsyncCollection[Document] = database.get_collection("huddle_meta")
        self.transactions = False  # known after prepare(): whether batches are stored in a transaction

    # -- start-up ----------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Ready the collection, idempotently and safely from several workers at once: give seed-era
        documents a seq (before the unique index, which they would break) and words, build the
        indexes, drop the old text index, and find out whether the server has transactions."""
        hello = await self._client.admin.command("hello")
        # Transactions need a replica set or mongos; a standalone mongod refuses them.
        self.transactions = "setName" in hello or hello.get("msg") == "isdbgrid"
        log.info(
            "MongoDB message store: %s",
            "batches in transactions" if self.transactions else "no transactions (standalone server)",
        )
        marker = await self._meta.find_one({"_id": "messages"}) or {}
        if marker.get("version", 0) < SCHEMA_VERSION:  # once per database: these scan the collection
            await self._backfill_seqs()
            await self._backfill_words()
        await self._messages.create_indexes(INDEXES)
        try:
            await self._messages.drop_index(OLD_TEXT_INDEX)
        except OperationFailure as error:
            if error.code != INDEX_NOT_FOUND:
                raise
        with contextlib.suppress(DuplicateKeyError):  # another worker's upsert won: same value
            await self._meta.update_one(
                {"_id": "messages"}, {"$max": {"version": SCHEMA_VERSION}}, upsert=True
            )

    @asynccontextmanager
    async def _lease(self, name: str) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """Hold a named lease in `huddle_meta` (one holder at a time across workers and replicas);
        yields a renew function. A holder that dies frees it after LEASE."""
        owner = ObjectId()
        while True:
            now = dt.datetime.now(dt.UTC)
            try:  # an expired lease is taken over; a missing one inserted; a live one is a duplicate _id
                await self._meta.update_one(
                    {"_id": name, "until": {"$lt": now}},
                    {"$set": {"owner": owner, "until": now + LEASE}},
                    upsert=True,
                )
                break
            except DuplicateKeyError:
                await asyncio.sleep(0.2)

        async def renew() -> None:
            until = dt.datetime.now(dt.UTC) + LEASE
            renewed = await self._meta.update_one({"_id": name, "owner": owner}, {"$set": {"until": until}})
            if renewed.matched_count == 0:
                raise RuntimeError(f"lost the {name} lease (a step took longer than {LEASE})")

        try:
            yield renew
        finally:
            await self._meta.delete_one({"_id": name, "owner": owner})

    async def _backfill_seqs(self) -> None:
        """Number seed-era documents (no `seq`) per group in `created_at` order (then `_id`: insertion
        order), after the group's highest seq. One worker at a time (a lease); each update applies only
        to a document still without a seq, so an interrupted run resumes where it stopped. Each step
        has BACKFILL_STEP_S, not a request's TIMEOUT_MS: these scan or write a thousand documents."""
        missing: Document = {"seq": {"$exists": False}}
        with pymongo.timeout(BACKFILL_STEP_S):
            if await self._messages.find_one(missing, projection={"_id": True}) is None:
                return  # nothing to number: a fresh database, or one only Huddle wrote
        async with self._lease("lease:seq-backfill") as renew:
            with pymongo.timeout(BACKFILL_STEP_S):
                group_ids = await self._messages.distinct("group_id", missing)
            for group_id in group_ids:
                numbered = 0
                while chunk := await self._number_oldest(group_id):
                    numbered += chunk
                    await renew()
                log.info("seed-era messages of group %s numbered: %d", group_id, numbered)

    async def _number_oldest(self, group_id: int) -> int:
        """Give the group's oldest documents without a seq the next ones; how many there were."""
        missing: Document = {"seq": {"$exists": False}}
        with pymongo.timeout(BACKFILL_STEP_S):
            next_seq = await self._next_seq(group_id)
            cursor = self._messages.find(
                {"group_id": group_id} | missing,
                {"_id": True},
                sort=[("created_at", ASCENDING), ("_id", ASCENDING)],
                limit=BACKFILL_CHUNK,
            )
            chunk = [document["_id"] async for document in cursor]
            if chunk:
                updates = [
                    UpdateOne({"_id": _id} | missing, {"$set": {"seq": next_seq + n}})
                    for n, _id in enumerate(chunk)
                ]
                await self._messages.bulk_write(updates, ordered=True)
        return len(chunk)

    async def _backfill_words(self) -> None:
        """Give `words` to documents without it (seed-era ones, and those of versions that searched
        with `$text`). Idempotent: every worker computes the same words."""
        missing: Document = {"words": {"$exists": False}}
        while True:
            with pymongo.timeout(BACKFILL_STEP_S):
                chunk = await self._messages.find(missing, {"text": True}, limit=BACKFILL_CHUNK).to_list()
                if not chunk:
                    return
                updates = [
                    UpdateOne(
                        {"_id": doc["_id"]} | missing,
                        {"$set": {"words": search_words(doc.get("text") or "")}},
                    )
                    for doc in chunk
                ]
                await self._messages.bulk_write(updates, ordered=False)

    # -- appending ---------------------------------------------------------------------------------

    async def _next_seq(self, group_id: int) -> int:
        last = await self._messages.find_one(
            {"group_id": group_id}, projection={"_id": False, "seq": True}, sort=[("seq", DESCENDING)]
        )
        return 1 if last is None else int(last.get("seq") or 0) + 1

    async def _by_client_ids(
        self, group_id: int, drafts: Iterable[Draft]
    ) -> dict[tuple[int, str], StoredMessage]:
        """The stored messages these drafts would repeat, by client key."""
        keys = {key for draft in drafts if (key := client_key(draft))}
        if not keys:
            return {}
        # The $type conditions repeat the partial index's filter so the planner may use that index.
        cursor = self._messages.find(
            {
                "group_id": group_id,
                "$or": [
                    {
                        "author_id": {"$eq": author, "$type": "number"},
                        "client_msg_id": {"$eq": cid, "$type": "string"},
                    }
                    for author, cid in keys
                ],
            },
            NOT_READ,
        )
        found = map(to_stored, await cursor.to_list())
        return {key: message for message in found if (key := client_key(message))}

    async def append(self, drafts: Sequence[Draft]) -> list[tuple[StoredMessage, bool]]:
        if any(draft.group_id != drafts[0].group_id for draft in drafts):
            raise ValueError("one append writes to one group")
        results: list[tuple[StoredMessage, bool] | None] = [None] * len(drafts)
        for attempt in range(APPEND_ATTEMPTS):
            await self._append_round(drafts, results)
            done = [result for result in results if result is not None]
            if len(done) == len(drafts):
                return done
            await asyncio.sleep(backoff(attempt))
        raise Saturated(f"no free seq in group {drafts[0].group_id} after {APPEND_ATTEMPTS} attempts")

    async def _append_round(
        self, drafts: Sequence[Draft], results: list[tuple[StoredMessage, bool] | None]
    ) -> None:
        """One try at the drafts without a result yet: retries of stored messages are answered with
        them, the rest inserted as one batch; a repeat within the batch waits for its first
        occurrence, which alone is inserted. Races leave results unset for the next round."""
        pending = [i for i, result in enumerate(results) if result is None]
        known = await self._by_client_ids(drafts[0].group_id, (drafts[i] for i in pending))
        fresh: list[int] = []
        firsts: dict[tuple[int, str], int] = {}
        for i in pending:
            key = client_key(drafts[i])
            if key is not None and key in known:
                results[i] = (known[key], False)
            elif key is None or key not in firsts:
                fresh.append(i)
                if key is not None:
                    firsts[key] = i
        if fresh:
            base = await self._next_seq(drafts[0].group_id)
            documents = [new_document(drafts[i], base + n) for n, i in enumerate(fresh)]
            stored = await self._insert(documents)
            for i, document in zip(fresh[:stored], documents[:stored], strict=True):
                results[i] = (to_stored(document), True)
        for i in pending:
            key = client_key(drafts[i])
            first = None if key is None else results[firsts.get(key, i)]
            if results[i] is None and first is not None:
                results[i] = (first[0], False)

    async def _insert(self, documents: list[Document]) -> int:
        """Insert consecutive-seq documents in order; how many were stored. A seq or client-id race
        stores none of them where the server has transactions, and the prefix before the clash on a
        standalone server; anything else is raised."""
        try:
            if self.transactions and len(documents) > 1:  # one document is atomic without one
                async with self._client.start_session() as session, await session.start_transaction():
                    await self._messages.insert_many(documents, ordered=True, session=session)
            else:
                await self._messages.insert_many(documents, ordered=True)
        except BulkWriteError as error:
            first = _first_write_error(error)
            if first.get("code") != DUPLICATE_KEY or violated_index(first) not in {
                SEQ_INDEX,
                CLIENT_ID_INDEX,
            }:
                raise
            return 0 if self.transactions else int(error.details.get("nInserted", 0))
        except DuplicateKeyError as error:
            if violated_index(error) not in {SEQ_INDEX, CLIENT_ID_INDEX}:
                raise
            return 0
        except OperationFailure as error:
            if error.has_error_label("TransientTransactionError"):  # a write conflict: another batch won
                return 0
            raise
        return len(documents)

    async def get(self, group_id: int, seq: int) -> StoredMessage | None:
        document = await self._messages.find_one({"group_id": group_id, "seq": seq}, NOT_READ)
        return None if document is None else to_stored(document)

    async def _find(
        self,
        query: Document,
        sort: list[tuple[str, int]],
        *,
        offset: int = 0,
        limit: int,
        projection: Document = NOT_READ,
        budget_ms: int | None = None,
    ) -> list[StoredMessage]:
        if limit <= 0:  # Mongo reads limit 0 as "no limit"; SQL's LIMIT 0 returns nothing
            return []
        with pymongo.timeout(None if budget_ms is None else budget_ms / 1000):  # None: the client's
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
        return await self._find(
            {"group_id": group_id} | NUMBERED, [("seq", DESCENDING)], offset=offset, limit=limit
        )

    async def _update_live(self, group_id: int, seq: int, values: Document) -> StoredMessage | None:
        document = await self._messages.find_one_and_update(
            _live(group_id, seq), {"$set": values}, projection=NOT_READ, return_document=ReturnDocument.AFTER
        )
        return None if document is None else to_stored(document)

    async def edit(
        self, group_id: int, seq: int, text: str, at: dt.datetime, mentions: Sequence[int] = ()
    ) -> StoredMessage | None:
        values = {
            "text": text,
            "words": search_words(text),
            "edited_at": at,
            "mentions": list(dict.fromkeys(mentions)),
        }
        return await self._update_live(group_id, seq, values)

    async def tombstone(self, group_id: int, seq: int, at: dt.datetime) -> StoredMessage | None:
        return await self._update_live(
            group_id,
            seq,
            {
                "text": "",
                "words": [],
                "deleted_at": at,
                "video_id": None,
                "reactions": [],
                "attachments": [],
                "mentions": [],
            },
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
            {"$match": {"group_id": {"$in": list(group_ids)}} | NUMBERED},
            # Both keys descending: the unique index walked backwards, no in-memory sort.
            {"$sort": {"group_id": DESCENDING, "seq": DESCENDING}},
            {"$group": {"_id": "$group_id", "message": {"$first": "$$ROOT"}}},
            {"$replaceRoot": {"newRoot": "$message"}},
            {
                "$project": {"reactions": False, "words": False}
            },  # as the SQL adapter: previews carry no reactions
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

    async def mention_counts(self, user_id: int, positions: Mapping[int, int]) -> dict[int, int]:
        if not positions:
            return {}
        after: list[Document] = [{"group_id": group, "seq": {"$gt": seq}} for group, seq in positions.items()]
        pipeline: list[Document] = [
            # Tombstones empty their mentions: every match is a live message.
            {"$match": {"mentions": user_id, "$or": after}},
            {"$group": {"_id": "$group_id", "count": {"$sum": 1}}},
        ]
        cursor = await self._messages.aggregate(pipeline)
        return {row["_id"]: row["count"] for row in await cursor.to_list()}

    async def mentioning(
        self, user_id: int, group_ids: Sequence[int], *, limit: int, offset: int
    ) -> list[StoredMessage]:
        if not group_ids:
            return []
        return await self._find(
            {"mentions": user_id, "group_id": {"$in": list(group_ids)}},
            [("created_at", DESCENDING), ("_id", DESCENDING)],
            offset=offset,
            limit=limit,
            projection=NOT_READ | {"reactions": False},  # as the SQL adapter: carries no reactions
        )

    async def search(
        self, group_ids: Sequence[int], query: str, *, limit: int, offset: int
    ) -> list[StoredMessage]:
        condition = search_condition(group_ids, query)
        if condition is None:
            return []
        return await self._find(
            condition,
            [("created_at", DESCENDING), ("_id", DESCENDING)],
            offset=offset,
            limit=limit,
            projection=NOT_READ | {"reactions": False},  # as the SQL adapter: hits carry no reactions
            budget_ms=SEARCH_BUDGET_MS,  # past it a timeout error: a 503, never a long scan
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
