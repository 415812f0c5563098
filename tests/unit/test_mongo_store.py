"""The MongoDB adapter's pure parts, without a server: search filters, document shape, conversions,
duplicate-key classification, index definitions, and failing fast when the server is down."""

from __future__ import annotations

import datetime as dt
import socket
import time

import msgspec
import pytest
from bson import ObjectId
from bson.int64 import Int64
from pymongo.errors import DuplicateKeyError, ServerSelectionTimeoutError

from app.domain.messages.mongo_store import (
    CLIENT_ID_INDEX,
    INDEXES,
    MENTIONS_INDEX,
    SEQ_INDEX,
    WORDS_INDEX,
    MongoMessageStore,
    backoff,
    bson_time,
    new_document,
    reaction_map,
    search_condition,
    search_words,
    to_stored,
    violated_index,
)
from app.domain.messages.store import Draft


def make_draft(**extra: object) -> Draft:
    fields: dict[str, object] = {
        "group_id": 7,
        "type": "message",
        "user": "ann@example.com",
        "created_at": dt.datetime(2025, 3, 4, 5, 6, 7, 891234, tzinfo=dt.UTC),
        "text": "hello",
    }
    return msgspec.convert(fields | extra, Draft)


@pytest.mark.parametrize(
    ("query", "words", "fragments"),
    [
        ("quick", ["quick"], []),
        ("QUICK brown", ["quick", "brown"], []),
        ('fox" (', ["fox"], []),
        ("quick OR sleep", ["quick", "or", "sleep"], []),  # OR is a word to find, not an operator
        ("Zoë ÉTÉ naïve", ["zoe", "ete", "naive"], []),  # case and accents folded, as stored
        ("c++ 🎉 東京タワー", [], ["c\\+\\+", "🎉", "東京タワー"]),  # escaped: never a pattern
        ("a.* $where", [], ["a\\.\\*", "\\$where"]),
    ],
)
def test_search_condition_requires_every_word_and_fragment(
    query: str, words: list[str], fragments: list[str]
) -> None:
    condition = search_condition([1, 2], query)
    assert condition is not None
    assert condition["group_id"] == {"$in": [1, 2]}
    assert (condition["type"], condition["deleted_at"]) == ("message", None)
    assert condition.get("words", {"$all": []}) == {"$all": words}
    assert [c["text"]["$regex"] for c in condition.get("$and", [])] == fragments
    assert all(c["text"]["$options"] == "i" for c in condition.get("$and", []))


@pytest.mark.parametrize("query", ["", "  ", '"', "()", "!?"])
def test_search_condition_is_none_without_terms(query: str) -> None:
    assert search_condition([1], query) is None
    assert search_condition([], "quick") is None


def test_search_words_are_folded_and_distinct() -> None:
    assert search_words("The quick, QUICK fox: Zoë's café") == ["the", "quick", "fox", "zoe", "s", "cafe"]
    assert search_words("") == []


def test_bson_time_is_utc_milliseconds() -> None:
    east = dt.timezone(dt.timedelta(hours=2))
    assert bson_time(dt.datetime(2025, 1, 1, 12, 0, 0, 123999, tzinfo=east)) == dt.datetime(
        2025, 1, 1, 10, 0, 0, 123000, tzinfo=dt.UTC
    )
    naive = bson_time(dt.datetime(2025, 1, 1, 12, 0, 0, 5))  # noqa: DTZ001 -- pymongo reads naive as UTC
    assert naive == dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
    assert naive.tzinfo is dt.UTC


def test_new_document_keeps_the_seed_shape_and_every_draft_field() -> None:
    draft = make_draft(
        author_id=3,
        client_msg_id="c-1",
        video_action="seek",
        video_name="clip.mp4",
        video_time=12.5,
        reply_to=2,
    )
    document = new_document(draft, 9)
    assert isinstance(document["_id"], ObjectId)
    assert document["seq"] == 9
    assert document["group_id"] == 7
    assert (document["text"], document["user"], document["type"]) == ("hello", "ann@example.com", "message")
    assert (document["video_action"], document["video_name"], document["video_time"]) == (
        "seek",
        "clip.mp4",
        12.5,
    )
    assert document["created_at"] == dt.datetime(2025, 3, 4, 5, 6, 7, 891000, tzinfo=dt.UTC)
    assert (document["edited_at"], document["deleted_at"], document["reactions"]) == (None, None, [])
    assert document["words"] == ["hello"]
    assert set(Draft.__struct_fields__) <= set(document)
    assert new_document(draft, 9)["_id"] != document["_id"]  # a retried insert is a new document


def test_a_new_document_reads_back_as_the_draft() -> None:
    draft = make_draft(
        author_id=3, user_name="Ann", client_msg_id="c-1", video_id=4, user_email="b@example.com"
    )
    document = new_document(draft, 1)
    stored = to_stored(document)
    assert stored.id == str(document["_id"])
    assert stored.seq == 1
    assert stored.created_at == document["created_at"]
    draft_fields = msgspec.structs.asdict(draft) | {"created_at": document["created_at"]}
    assert {name: getattr(stored, name) for name in draft_fields} == draft_fields
    assert (stored.edited_at, stored.deleted_at, stored.reactions) == (None, None, {})


def test_a_seed_era_document_converts_with_defaults() -> None:
    created = dt.datetime(2024, 5, 6, tzinfo=dt.UTC)
    document = {
        "_id": ObjectId(),
        "group_id": Int64(12),
        "seq": Int64(3),
        "type": "video_control",
        "user": "ann@example.com",
        "video_action": "play",
        "video_name": "clip.mp4",
        "video_time": 42,  # a whole number from a JavaScript client
        "created_at": created,
    }
    stored = to_stored(document)
    assert (stored.group_id, stored.seq, stored.text) == (12, 3, "")
    assert stored.video_time == 42.0
    assert isinstance(stored.video_time, float)
    assert (stored.author_id, stored.client_msg_id, stored.deleted_at, stored.reactions) == (
        None,
        None,
        None,
        {},
    )


def test_a_seed_notice_without_type_or_created_at_takes_its_object_id_time() -> None:
    _id = ObjectId.from_datetime(dt.datetime(2025, 12, 18, 10, 30, tzinfo=dt.UTC))
    stored = to_stored({"_id": _id, "group_id": 1, "seq": 4, "text": "x was added", "user": "system"})
    assert (stored.type, stored.created_at) == ("message", dt.datetime(2025, 12, 18, 10, 30, tzinfo=dt.UTC))


def test_a_malformed_document_is_an_error_not_a_wrong_message() -> None:
    document = {"_id": ObjectId(), "group_id": 1, "seq": "3", "type": "message", "user": "x", "created_at": 0}
    with pytest.raises(msgspec.ValidationError):
        to_stored(document)


def test_reaction_pairs_group_by_emoji_in_reaction_order() -> None:
    pairs = [
        {"emoji": "👍", "user_id": 1},
        {"emoji": "🎉", "user_id": 2},
        {"emoji": "👍", "user_id": Int64(3)},
        {"emoji": "$.odd", "user_id": 1},  # never a field name, so anything goes
    ]
    reactions = reaction_map(pairs)
    assert reactions == {"👍": [1, 3], "🎉": [2], "$.odd": [1]}
    assert list(reactions) == ["👍", "🎉", "$.odd"]
    assert reaction_map(None) == {}
    assert reaction_map([]) == {}


def test_to_stored_reads_reaction_pairs() -> None:
    document = new_document(make_draft(), 1) | {"reactions": [{"emoji": "🎉", "user_id": 5}]}
    assert to_stored(document).reactions == {"🎉": [5]}


def duplicate(details: dict[str, object]) -> DuplicateKeyError:
    return DuplicateKeyError(str(details.get("errmsg", "E11000")), 11000, details)


def test_violated_index_from_key_pattern_or_errmsg() -> None:
    assert violated_index(duplicate({"keyPattern": {"group_id": 1, "seq": 1}})) == SEQ_INDEX
    assert (
        violated_index(duplicate({"keyPattern": {"group_id": 1, "author_id": 1, "client_msg_id": 1}}))
        == CLIENT_ID_INDEX
    )
    errmsg = f"E11000 duplicate key error collection: chatapp.messages index: {CLIENT_ID_INDEX} dup key: {{}}"
    assert violated_index(duplicate({"errmsg": errmsg})) == CLIENT_ID_INDEX
    id_clash = "E11000 duplicate key error collection: chatapp.messages index: _id_ dup key: { _id: 1 }"
    assert violated_index(duplicate({"keyPattern": {"_id": 1}, "errmsg": id_clash})) == "_id_"
    assert violated_index(duplicate({})) is None


def test_backoff_is_jittered_and_capped() -> None:
    assert all(0 <= backoff(0) <= 0.001 for _ in range(100))
    assert all(0 <= backoff(30) <= 0.128 for _ in range(100))
    assert len({backoff(5) for _ in range(20)}) > 1


def test_index_definitions() -> None:
    indexes = {model.document["name"]: model.document for model in INDEXES}
    assert set(indexes) == {SEQ_INDEX, CLIENT_ID_INDEX, WORDS_INDEX, MENTIONS_INDEX}
    assert indexes[SEQ_INDEX]["unique"]
    assert list(indexes[SEQ_INDEX]["key"].items()) == [("group_id", 1), ("seq", 1)]
    client = indexes[CLIENT_ID_INDEX]
    assert client["unique"]
    assert list(client["key"]) == ["group_id", "author_id", "client_msg_id"]
    # Null ids (system messages, old clients) never collide, as NULLs in the SQL unique index.
    assert client["partialFilterExpression"] == {
        "author_id": {"$type": "number"},
        "client_msg_id": {"$type": "string"},
    }
    # Only index kinds every MongoDB-protocol server has (no text index): words is multikey.
    assert list(indexes[WORDS_INDEX]["key"].items()) == [("words", 1), ("group_id", 1)]
    # Multikey too: one entry per mentioned user, for mention counts and the Mentions view.
    assert list(indexes[MENTIONS_INDEX]["key"].items()) == [("mentions", 1), ("group_id", 1), ("seq", 1)]


def test_the_client_reads_aware_utc_and_has_bounded_timeouts() -> None:
    store = MongoMessageStore("mongodb://127.0.0.1:1", "huddle_unit", timeout_ms=1234)
    options = store._client.options
    assert options.codec_options.tz_aware
    assert options.codec_options.tzinfo is dt.UTC
    assert options.server_selection_timeout == 1.234
    assert options.pool_options.connect_timeout == 1.234
    assert options.timeout == 1.234  # the whole operation, retries included
    assert options.write_concern.document == {"w": "majority", "j": True}


@pytest.mark.anyio
async def test_ping_fails_fast_when_the_server_is_down() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = MongoMessageStore(f"mongodb://127.0.0.1:{port}", "huddle_unit", timeout_ms=300)
    started = time.monotonic()
    with pytest.raises(ServerSelectionTimeoutError):
        await store.ping()
    assert time.monotonic() - started < 5
    await store.close()
