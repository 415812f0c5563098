"""The message-store contract: run against every adapter (SQL on SQLite and PostgreSQL; MongoDB
on MongoDB over the wire: SecantusDB, or MONGODB_URL)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from app.domain.messages.store import AttachmentRef, Draft, MessageStore, StoredMessage
from tests.integration.messages.conftest import BACKENDS

pytestmark = pytest.mark.anyio


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def draft(group_id: int, text: str = "hello", **extra: Any) -> Draft:
    fields: dict[str, Any] = {"user": "a@example.com", "author_id": None, "user_name": "A"} | extra
    return Draft(group_id=group_id, type="message", text=text, created_at=dt.datetime.now(dt.UTC), **fields)


async def append_one(store: MessageStore, message: Draft) -> tuple[StoredMessage, bool]:
    (result,) = await store.append([message])
    return result


async def test_seq_starts_at_one_and_is_gap_free(store: MessageStore, make_group: Callable[[], Any]) -> None:
    group = await make_group()
    other = await make_group()
    seqs = [(await append_one(store, draft(group, f"m{i}")))[0].seq for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert (await append_one(store, draft(other)))[0].seq == 1  # per group


async def test_concurrent_appends_leave_no_gap_or_duplicate(
    store: MessageStore, make_group: Callable[[], Any]
) -> None:
    group = await make_group()
    results = await asyncio.gather(*(append_one(store, draft(group, f"c{i}")) for i in range(40)))
    seqs = sorted(message.seq for message, _ in results)
    assert seqs == list(range(1, 41))
    window = await store.window(group, after_seq=0, limit=100)
    assert [m.seq for m in window] == list(range(1, 41))
    assert sorted(m.text for m in window) == sorted(f"c{i}" for i in range(40))


async def test_client_msg_id_is_idempotent_per_author(
    store: MessageStore, make_group: Callable[[], Any]
) -> None:
    group = await make_group()
    first, created = await append_one(
        store, draft(group, "once", client_msg_id="abc", author_id=None, user="x")
    )
    assert created
    again, created_again = await append_one(
        store, draft(group, "once", client_msg_id="abc", author_id=None, user="x")
    )
    # NULL authors never collide (system messages); a real author id does:
    assert created_again
    assert again.seq == first.seq + 1


async def test_concurrent_duplicates_store_one_message(
    store: MessageStore, make_group: Callable[[], Any], make_user: Callable[[], Any]
) -> None:
    group = await make_group()
    author = await make_user()
    results = await asyncio.gather(
        *(append_one(store, draft(group, "same", client_msg_id="dup-1", author_id=author)) for _ in range(10))
    )
    assert sum(created for _, created in results) == 1
    assert {message.seq for message, _ in results} == {1}
    nxt, _ = await append_one(store, draft(group, "next", author_id=author))
    assert nxt.seq == 2  # the losers gave their seq back


async def test_a_batch_is_stored_in_order_with_consecutive_seqs(
    store: MessageStore, make_group: Callable[[], Any]
) -> None:
    group = await make_group()
    await append_one(store, draft(group, "before"))
    results = await store.append([draft(group, f"b{i}") for i in range(5)])
    assert [(m.seq, m.text, created) for m, created in results] == [(i + 2, f"b{i}", True) for i in range(5)]
    window = await store.window(group, after_seq=0, limit=10)
    assert [m.text for m in window] == ["before", "b0", "b1", "b2", "b3", "b4"]


async def test_a_batch_with_retried_client_ids_stores_each_once_and_leaves_no_gap(
    store: MessageStore, make_group: Callable[[], Any], make_user: Callable[[], Any]
) -> None:
    group = await make_group()
    author = await make_user()
    stored, _ = await append_one(store, draft(group, "first", client_msg_id="c-1", author_id=author))
    results = await store.append(
        [
            draft(group, "first", client_msg_id="c-1", author_id=author),  # a retry of a stored one
            draft(group, "second", client_msg_id="c-2", author_id=author),
            draft(group, "second", client_msg_id="c-2", author_id=author),  # a retry within the batch
            draft(group, "third", author_id=author),
        ]
    )
    assert [(m.seq, m.text, created) for m, created in results] == [
        (stored.seq, "first", False),
        (2, "second", True),
        (2, "second", False),
        (3, "third", True),
    ]
    after, _ = await append_one(store, draft(group, "fourth"))
    assert after.seq == 4  # the seqs the retries reserved were given back
    assert [m.seq for m in await store.window(group, after_seq=0, limit=10)] == [1, 2, 3, 4]


async def test_concurrent_batches_interleave_without_gap_or_reordering(
    store: MessageStore, make_group: Callable[[], Any]
) -> None:
    group = await make_group()
    batches = [[draft(group, f"{b}-{i}") for i in range(10)] for b in range(6)]
    await asyncio.gather(*(store.append(batch) for batch in batches))
    window = await store.window(group, after_seq=0, limit=100)
    assert [m.seq for m in window] == list(range(1, 61))
    for b in range(6):  # each batch keeps its own order
        assert [m.text for m in window if m.text.startswith(f"{b}-")] == [f"{b}-{i}" for i in range(10)]


async def test_window_and_newest_first(store: MessageStore, make_group: Callable[[], Any]) -> None:
    group = await make_group()
    for i in range(1, 11):
        await append_one(store, draft(group, f"m{i}"))
    assert [m.seq for m in await store.window(group, limit=3)] == [8, 9, 10]
    assert [m.seq for m in await store.window(group, before_seq=8, limit=3)] == [5, 6, 7]
    assert [m.seq for m in await store.window(group, before_seq=2, limit=3)] == [1]
    assert [m.seq for m in await store.window(group, after_seq=7, limit=2)] == [8, 9]
    assert [m.seq for m in await store.window(group, after_seq=3, before_seq=6, limit=10)] == [4, 5]
    assert await store.window(group, after_seq=10, limit=5) == []
    assert [m.seq for m in await store.newest_first(group, offset=2, limit=3)] == [8, 7, 6]
    fetched = await store.get(group, 4)
    assert fetched is not None
    assert fetched.text == "m4"
    assert await store.get(group, 99) is None


async def test_edit_and_tombstone(store: MessageStore, make_group: Callable[[], Any]) -> None:
    group = await make_group()
    message, _ = await append_one(store, draft(group, "original"))
    at = dt.datetime.now(dt.UTC)
    edited = await store.edit(group, message.seq, "changed", at)
    assert edited is not None
    assert (edited.text, edited.seq) == ("changed", message.seq)
    assert edited.edited_at is not None
    gone = await store.tombstone(group, message.seq, at)
    assert gone is not None
    assert (gone.text, gone.deleted_at is not None) == ("", True)
    assert await store.edit(group, message.seq, "again", at) is None
    assert await store.tombstone(group, message.seq, at) is None
    assert [m.seq for m in await store.window(group, limit=10)] == [message.seq]  # the seq stays


async def test_attachments_are_kept_in_order_through_edits_and_dropped_by_tombstones(
    store: MessageStore, make_group: Callable[[], Any]
) -> None:
    group = await make_group()
    refs = (
        AttachmentRef(
            id=7,
            name="cat.png",
            kind="image",
            content_type="image/png",
            size=10,
            width=4,
            height=3,
            thumbnail=True,
        ),
        AttachmentRef(id=3, name="a.pdf", kind="pdf", content_type="application/pdf", size=20),
    )
    message, _ = await append_one(store, draft(group, "", attachments=refs))
    plain, _ = await append_one(store, draft(group, "no files"))
    assert (message.attachments, plain.attachments) == (refs, ())
    assert (await store.get(group, message.seq)).attachments == refs  # type: ignore[union-attr]
    edited = await store.edit(group, message.seq, "now with text", dt.datetime.now(dt.UTC))
    assert edited is not None
    assert edited.attachments == refs
    assert [m.attachments for m in await store.window(group, limit=10)] == [refs, ()]
    gone = await store.tombstone(group, message.seq, dt.datetime.now(dt.UTC))
    assert gone is not None
    assert gone.attachments == ()
    assert (await store.get(group, message.seq)).attachments == ()  # type: ignore[union-attr]


async def test_reactions(
    store: MessageStore, make_group: Callable[[], Any], make_user: Callable[[], Any]
) -> None:
    group = await make_group()
    ann, bob = await make_user(), await make_user()
    message, _ = await append_one(store, draft(group))
    assert await store.react(group, message.seq, ann, "👍", add=True) == {"👍": [ann]}
    assert await store.react(group, message.seq, ann, "👍", add=True) == {"👍": [ann]}  # idempotent
    assert await store.react(group, message.seq, bob, "👍", add=True) == {"👍": [ann, bob]}
    assert await store.react(group, message.seq, bob, "🎉", add=True) == {"👍": [ann, bob], "🎉": [bob]}
    assert await store.react(group, message.seq, ann, "👍", add=False) == {"👍": [bob], "🎉": [bob]}
    fetched = await store.get(group, message.seq)
    assert fetched is not None
    assert fetched.reactions == {"👍": [bob], "🎉": [bob]}
    assert await store.react(group, 999, ann, "👍", add=True) is None
    gone = await store.tombstone(group, message.seq, dt.datetime.now(dt.UTC))
    assert gone is not None
    assert gone.reactions == {}  # a deleted message keeps no reactions


async def test_every_listed_message_carries_its_own_reactions(
    store: MessageStore, make_group: Callable[[], Any], make_user: Callable[[], Any]
) -> None:
    """Pages of history, at their edges too, and a batch whose retries name far-apart messages."""
    group = await make_group()
    ann = await make_user()
    for i in range(1, 9):
        await append_one(store, draft(group, f"m{i}", client_msg_id=f"c-{i}", author_id=ann))
    for seq in (1, 3, 5, 8):
        await store.react(group, seq, ann, str(seq), add=True)
    reacted = {1: {"1": [ann]}, 3: {"3": [ann]}, 5: {"5": [ann]}, 8: {"8": [ann]}}

    def reactions(messages: list[StoredMessage]) -> dict[int, dict[str, list[int]]]:
        return {m.seq: m.reactions for m in messages}

    assert reactions(await store.window(group, before_seq=6, limit=3)) == {
        3: reacted[3],
        4: {},
        5: reacted[5],
    }
    assert reactions(await store.window(group, after_seq=5, limit=10)) == {6: {}, 7: {}, 8: reacted[8]}
    assert reactions(await store.newest_first(group, offset=1, limit=3)) == {7: {}, 6: {}, 5: reacted[5]}
    retried = await store.append(
        [draft(group, f"m{i}", client_msg_id=f"c-{i}", author_id=ann) for i in (1, 8, 4)]
    )
    assert [(m.seq, m.reactions, created) for m, created in retried] == [
        (1, reacted[1], False),
        (8, reacted[8], False),
        (4, {}, False),
    ]


async def test_latest_per_group(store: MessageStore, make_group: Callable[[], Any]) -> None:
    one, two, empty = await make_group(), await make_group(), await make_group()
    await append_one(store, draft(one, "a"))
    await append_one(store, draft(one, "b"))
    await append_one(store, draft(two, "c"))
    latest = await store.latest([one, two, empty])
    assert {g: (m.seq, m.text) for g, m in latest.items()} == {one: (2, "b"), two: (1, "c")}
    assert await store.latest([]) == {}


async def test_deleted_after_counts_deleted_messages_past_a_position(
    store: MessageStore, make_group: Callable[[], Any]
) -> None:
    one, two, untouched = await make_group(), await make_group(), await make_group()
    for group in (one, two, untouched):
        for i in range(4):
            await append_one(store, draft(group, f"m{i}"))
    now = dt.datetime.now(dt.UTC)
    for group, seq in ((one, 1), (one, 3), (one, 4), (two, 2)):
        assert await store.tombstone(group, seq, now) is not None
    counts = await store.deleted_after({one: 1, two: 2, untouched: 0})
    assert {group: counts.get(group, 0) for group in (one, two, untouched)} == {one: 2, two: 0, untouched: 0}
    assert await store.deleted_after({}) == {}


async def test_search_finds_words_in_given_groups_only(
    store: MessageStore, make_group: Callable[[], Any]
) -> None:
    mine, theirs = await make_group(), await make_group()
    await append_one(store, draft(mine, "the quick brown fox"))
    await append_one(store, draft(mine, "lazy dogs sleep"))
    deleted, _ = await append_one(store, draft(mine, "a quick goodbye"))
    await store.tombstone(mine, deleted.seq, dt.datetime.now(dt.UTC))
    await append_one(store, draft(theirs, "quick but private"))
    found = await store.search([mine], "quick", limit=10, offset=0)
    assert [m.text for m in found] == ["the quick brown fox"]
    # Every word is required and operator syntax is plain text: never a query error.
    assert [m.text for m in await store.search([mine], 'fox" (', limit=10, offset=0)] == [
        "the quick brown fox"
    ]
    assert await store.search([mine], "quick OR sleep", limit=10, offset=0) == []
    assert [m.text for m in await store.search([mine], "QUICK brown", limit=10, offset=0)] == [
        "the quick brown fox"
    ]
    assert await store.search([mine], "  ", limit=10, offset=0) == []
    assert await store.search([], "quick", limit=10, offset=0) == []


async def test_search_matches_whole_words_and_follows_edits(
    store: MessageStore, make_group: Callable[[], Any]
) -> None:
    group = await make_group()
    await append_one(store, draft(group, "a category of cats"))
    mine, _ = await append_one(store, draft(group, "my cat sleeps"))

    async def texts(query: str) -> list[str]:
        return [m.text for m in await store.search([group], query, limit=10, offset=0)]

    assert await texts("cat") == ["my cat sleeps"]  # not "category", not "cats"
    assert await texts("CATEGORY cats") == ["a category of cats"]
    assert await texts("cat category") == []
    await store.edit(group, mine.seq, "my dog sleeps", dt.datetime.now(dt.UTC))
    assert await texts("cat") == []
    assert await texts("dog") == ["my dog sleeps"]
    await store.tombstone(group, mine.seq, dt.datetime.now(dt.UTC))
    assert await texts("dog") == []


async def test_search_finds_unspaced_scripts_emoji_and_symbols(
    store: MessageStore, make_group: Callable[[], Any]
) -> None:
    """Tokenizers split on spaces and drop symbols: Japanese written without spaces, an emoji or
    `C++` are matched as text instead, and `C++` does not match a lone `c`."""
    group = await make_group()
    for text in ["日本語のテキストです", "party 🎉 time", "I write C++ daily", "see section c"]:
        await append_one(store, draft(group, text))

    async def texts(query: str) -> list[str]:
        return [m.text for m in await store.search([group], query, limit=10, offset=0)]

    assert await texts("テキスト") == ["日本語のテキストです"]
    assert await texts("🎉") == ["party 🎉 time"]
    assert await texts("c++") == ["I write C++ daily"]
    assert await texts("C++ daily") == ["I write C++ daily"]
    assert await texts("section") == ["see section c"]


async def test_drop_group(store: MessageStore, make_group: Callable[[], Any]) -> None:
    group = await make_group()
    await append_one(store, draft(group))
    await store.drop_group(group)
    assert await store.window(group, limit=10) == []
    assert await store.latest([group]) == {}


async def test_mentions_are_stored_counted_edited_and_dropped(
    store: MessageStore, make_group: Callable[[], Any], make_user: Callable[[], Any]
) -> None:
    group, other = await make_group(), await make_group()
    me, you = await make_user(), await make_user()
    one, _ = await append_one(store, draft(group, "@me", mentions=(me,)))
    two, _ = await append_one(store, draft(group, "@me @you", mentions=(me, you)))
    await append_one(store, draft(group, "plain"))
    three, _ = await append_one(store, draft(other, "@me", mentions=(me,)))
    assert (one.mentions, two.mentions) == ((me,), (me, you))
    assert (await store.get(group, two.seq)).mentions == (me, you)  # type: ignore[union-attr]
    assert await store.mention_counts(me, {group: 0, other: 0}) == {group: 2, other: 1}
    assert await store.mention_counts(me, {group: one.seq}) == {group: 1}
    assert await store.mention_counts(you, {group: two.seq}) in ({}, {group: 0})
    newest = await store.mentioning(me, [group, other], limit=10, offset=0)
    assert [(m.group_id, m.seq) for m in newest] == [(other, three.seq), (group, two.seq), (group, one.seq)]
    assert [m.seq for m in await store.mentioning(me, [group], limit=1, offset=1)] == [one.seq]
    edited = await store.edit(group, one.seq, "nobody", dt.datetime.now(dt.UTC), ())
    assert edited is not None
    assert edited.mentions == ()
    await store.edit(group, two.seq, "@you", dt.datetime.now(dt.UTC), (you,))
    assert await store.mention_counts(me, {group: 0}) in ({}, {group: 0})
    assert await store.mention_counts(you, {group: 0}) == {group: 1}
    await store.tombstone(group, two.seq, dt.datetime.now(dt.UTC))
    assert await store.mentioning(you, [group], limit=10, offset=0) == []
    await store.drop_group(other)
    assert await store.mentioning(me, [other], limit=10, offset=0) == []
