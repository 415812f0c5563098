"""The MongoDB store against a server of its own (SecantusDB, tests/secantus.py): seed-era data, batches
stored all-or-nothing, and outages (the server frozen with SIGSTOP, killed, started again) answered as
503 / `unavailable` / 1013 with nothing committed lost."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.errors import BulkWriteError

from app.config import Settings
from app.domain.messages import mongo_store
from app.domain.messages.mongo_store import MongoMessageStore
from app.domain.messages.store import Draft
from app.errors import DEPENDENCY_DOWN, Saturated
from tests.conftest import AppClient
from tests.helpers import Account, register
from tests.secantus import Secantus
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the app's own database; messages go to MongoDB in every test here


@pytest.fixture
def database(mongodb_url: str) -> Iterator[str]:
    name = f"huddle_test_{uuid.uuid4().hex[:8]}"
    yield name
    with MongoClient(mongodb_url, serverSelectionTimeoutMS=3000) as client:
        client.drop_database(name)
        client.drop_database(f"{name}_x")


@pytest.fixture
async def open_store(mongodb_url: str, database: str) -> AsyncIterator[Callable[[], Any]]:
    stores: list[MongoMessageStore] = []

    async def make() -> MongoMessageStore:
        store = MongoMessageStore(mongodb_url, database)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


def draft(group_id: int, text: str, **extra: Any) -> Draft:
    return Draft(
        group_id=group_id,
        type="message",
        user="a@example.com",
        text=text,
        created_at=dt.datetime.now(dt.UTC),
        **extra,
    )


# -- seed-era data ---------------------------------------------------------------------------------


def seed_documents(group_id: int, count: int, start: dt.datetime) -> list[dict[str, Any]]:
    """Documents as seed 000's chat service writes them: `text`, `user`, `group_id`, `type`,
    `created_at` (a naive UTC datetime), video fields on video_control; no seq, no Huddle field.
    Inserted out of time order, as several seed replicas would."""
    documents: list[dict[str, Any]] = []
    for i in range(count):
        at = (start + dt.timedelta(seconds=i)).replace(tzinfo=None)  # datetime.utcnow()
        if i % 5 == 3:
            documents.append(
                {
                    "type": "video_control",
                    "video_action": "play",
                    "video_name": "clip.mp4",
                    "video_time": 12,
                    "user": "ann@example.com",
                    "group_id": group_id,
                    "created_at": at,
                }
            )
        elif i % 7 == 6:
            documents.append(
                {
                    "type": "add",
                    "text": "Bob (bob@example.com) was added to Chat",
                    "user": "system",
                    "group_id": group_id,
                    "user_email": "bob@example.com",
                    "created_at": at,
                }
            )
        else:
            documents.append(
                {
                    "type": "message",
                    "text": f"seed message {i}",
                    "user": "ann@example.com",
                    "group_id": group_id,
                    "created_at": at,
                }
            )
    return documents[1::2] + documents[0::2]  # insertion order is not time order


def insert_seed(url: str, database: str, documents: list[dict[str, Any]]) -> None:
    with MongoClient(url) as client:
        collection = client[database]["messages"]
        collection.create_index([("group_id", 1), ("created_at", -1)])  # the seed's only index
        collection.insert_many(documents)


async def test_seed_era_documents_get_seqs_in_time_order_and_new_messages_follow(
    mongodb_url: str, database: str, open_store: Callable[[], Any]
) -> None:
    start = dt.datetime(2025, 12, 18, 10, 30, tzinfo=dt.UTC)
    insert_seed(mongodb_url, database, seed_documents(1, 2500, start) + seed_documents(2, 30, start))
    # Three workers start at once: one numbers the documents (a lease), the others wait for it.
    stores = [await open_store() for _ in range(3)]
    await asyncio.gather(*(store.prepare() for store in stores))
    store = stores[0]
    history = await store.window(1, after_seq=0, limit=3000)
    assert [m.seq for m in history] == list(range(1, 2501))
    assert [m.created_at for m in history] == sorted(m.created_at for m in history)
    assert history[0].created_at == start
    assert (history[3].type, history[3].video_time, history[3].text) == ("video_control", 12.0, "")
    assert [m.seq for m in await store.window(2, limit=100)] == list(range(1, 31))
    # Again: nothing changes (idempotent), and new messages continue each group's sequence.
    await store.prepare()
    ((stored, created),) = await store.append([draft(1, "after the seed")])
    assert (stored.seq, created) == (2501, True)
    assert [m.text for m in await store.search([1], "seed message 10", limit=5, offset=0)] == [
        "seed message 10"
    ]
    assert (await store.latest([2]))[2].seq == 30


async def test_an_interrupted_backfill_resumes(
    mongodb_url: str, database: str, open_store: Callable[[], Any]
) -> None:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    documents = seed_documents(5, 20, start)
    insert_seed(mongodb_url, database, documents)
    with MongoClient(mongodb_url) as client:  # a run that stopped after numbering the 8 oldest
        oldest = sorted(documents, key=lambda d: d["created_at"])[:8]
        for seq, document in enumerate(oldest, 1):
            client[database]["messages"].update_one({"_id": document["_id"]}, {"$set": {"seq": seq}})
    store = await open_store()
    await store.prepare()
    history = await store.window(5, after_seq=0, limit=100)
    assert [m.seq for m in history] == list(range(1, 21))
    assert [m.created_at for m in history] == sorted(m.created_at for m in history)


async def test_a_document_written_without_seq_after_start_up_is_skipped_not_a_500(
    mongodb_url: str, database: str, open_store: Callable[[], Any]
) -> None:
    store = await open_store()
    await store.prepare()
    await store.append([draft(8, "numbered hello")])
    with MongoClient(mongodb_url) as client:  # the seed's service, still running against the database
        client[database]["messages"].insert_one(
            {
                "type": "message",
                "text": "late hello",
                "user": "x@example.com",
                "group_id": 8,
                "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),  # the seed's utcnow()
            }
        )
    assert [m.text for m in await store.newest_first(8, offset=0, limit=10)] == ["numbered hello"]
    assert (await store.latest([8]))[8].text == "numbered hello"
    assert [m.text for m in await store.search([8], "hello", limit=10, offset=0)] == ["numbered hello"]


@pytest.mark.usefixtures("sqlite_url")  # made before the test's event loop runs (it migrates)
async def test_huddle_serves_a_seed_deployments_history(
    make_client: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    mongodb_url: str,
    database: str,
) -> None:
    # The account and the group (SQL) come first, with messages in a scratch database...
    client: AppClient = await make_client(
        make_settings(mongodb_url=mongodb_url, database_name=f"{database}_x")
    )
    owner = await register(client, name="Owner")
    gid = (await client.post("/groups", json={"name": "Chat"}, headers=owner.headers)).json()["id"]
    # ...and the seed's service wrote these to its database before Huddle was pointed at it.
    insert_seed(mongodb_url, database, seed_documents(gid, 12, dt.datetime(2025, 12, 18, tzinfo=dt.UTC)))
    settings = make_settings(mongodb_url=mongodb_url, database_name=database)
    restarted: AppClient = await make_client(settings)  # start-up (prepare) numbers them
    page = (await restarted.get(f"/api/v1/groups/{gid}/messages", headers=owner.headers)).json()["items"]
    texts = [m.get("text") for m in page]
    assert len(page) == 12
    assert [m["seq"] for m in page] == list(range(1, 13))
    assert texts[0] == "seed message 0"
    seed_api = (await restarted.get(f"/messages?group_id={gid}&limit=3", headers=owner.headers)).json()
    assert [m.get("text") for m in seed_api][-1] == "seed message 9"  # newest first
    sent = await restarted.post(
        f"/api/v1/groups/{gid}/messages", json={"text": "hello"}, headers=owner.headers
    )
    assert (sent.status_code, sent.json()["seq"]) == (201, 13)


async def test_search_ignores_case_and_accents(open_store: Callable[[], Any]) -> None:
    store = await open_store()
    await store.prepare()
    await store.append([draft(6, "Zoë's CAFÉ opens"), draft(6, "cafeteria")])
    found = await store.search([6], "zoe cafe", limit=10, offset=0)
    assert [m.text for m in found] == ["Zoë's CAFÉ opens"]
    assert [m.text for m in await store.search([6], "ZOË", limit=10, offset=0)] == ["Zoë's CAFÉ opens"]


# -- batches ---------------------------------------------------------------------------------------


async def test_a_batch_that_fails_half_way_stores_nothing(
    open_store: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await open_store()
    await store.prepare()
    assert store.transactions  # SecantusDB advertises a single-node replica set, as Atlas does
    ((first, _),) = await store.append([draft(9, "first")])
    made = mongo_store.new_document

    def clashing(message: Draft, seq: int) -> dict[str, Any]:
        document = made(message, seq)
        if message.text == "b2":  # not a seq race: an error the adapter must not retry
            document["_id"] = ObjectId(first.id)
        return document

    monkeypatch.setattr(mongo_store, "new_document", clashing)
    with pytest.raises(BulkWriteError):
        await store.append([draft(9, f"b{i}") for i in range(5)])
    assert [m.text for m in await store.window(9, after_seq=0, limit=10)] == ["first"]  # b0, b1 rolled back


async def test_without_transactions_racing_batches_keep_their_order_and_no_gap(
    open_store: Callable[[], Any],
) -> None:
    """A standalone mongod: a batch that loses a seq race half way keeps the prefix it stored (the
    group's next seqs) and inserts the rest after the winner."""
    store = await open_store()
    await store.prepare()
    store.transactions = False  # what prepare() finds on a standalone server
    batches = [[draft(4, f"{b}-{i}") for i in range(10)] for b in range(6)]
    results = await asyncio.gather(*(store.append(batch) for batch in batches))
    assert all(created for batch in results for _, created in batch)
    window = await store.window(4, after_seq=0, limit=100)
    assert [m.seq for m in window] == list(range(1, 61))
    for b in range(6):
        assert [m.text for m in window if m.text.startswith(f"{b}-")] == [f"{b}-{i}" for i in range(10)]


async def test_endless_seq_races_end_in_saturated_which_is_a_503(
    open_store: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await open_store()
    await store.prepare()

    async def always_lose(documents: list[dict[str, Any]]) -> int:
        return 0  # another sender took the seq, every time

    monkeypatch.setattr(store, "_insert", always_lose)
    monkeypatch.setattr(mongo_store, "APPEND_ATTEMPTS", 3)
    with pytest.raises(Saturated):
        await store.append([draft(3, "never")])
    assert Saturated in DEPENDENCY_DOWN  # HTTP 503 with Retry-After, the socket's `unavailable` frame


async def test_prepare_backfills_once_per_database(
    mongodb_url: str, database: str, open_store: Callable[[], Any]
) -> None:
    store = await open_store()
    await store.prepare()
    with MongoClient(mongodb_url) as client:
        assert client[database]["huddle_meta"].find_one({"_id": "messages"})["version"] == 1
        indexes = {index["name"] for index in client[database]["messages"].list_indexes()}
    assert {"group_seq", "group_author_client_msg_id", "words_group"} <= indexes
    assert "text_search" not in indexes
    await store.prepare()  # a restart: the marker spares the scans


# -- outages ---------------------------------------------------------------------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Secantus]:
    server = Secantus(tmp_path / "secantus", durable=True)  # it is SIGKILLed: acknowledged means on disk
    server.start()
    yield server
    server.stop()


async def post(client: AppClient, who: Account, gid: int, text: str) -> httpx.Response:
    return await client.post(
        f"/api/v1/groups/{gid}/messages", json={"text": text, "client_msg_id": text}, headers=who.headers
    )


async def assert_unavailable(response: httpx.Response, started: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    assert response.json()["code"] == "service_unavailable"
    assert time.monotonic() - started < 8  # bounded by the client's 3 s timeouts, never a hang


@pytest.mark.usefixtures("sqlite_url")
async def test_an_outage_is_a_503_and_unavailable_frame_and_nothing_committed_is_lost(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings], own_server: Secantus
) -> None:
    client: AppClient = await make_client(make_settings(mongodb_url=own_server.url, database_name="outage"))
    owner = await register(client, name="Owner")
    gid = (await client.post("/groups", json={"name": "Chat"}, headers=owner.headers)).json()["id"]
    committed = []
    for text in ["m1", "m2", "m3"]:
        assert (await post(client, owner, gid, text)).status_code == 201
        committed.append(text)
    socket = AsgiWebSocket(client.app, f"/ws/group/{gid}", f"token={owner.access_token}&events=all")
    async with socket:
        await socket.until(lambda frame: frame.get("text") == "m3")  # its history is in

        own_server.freeze()  # a hung host: connections stay open, nothing answers
        started = time.monotonic()
        await assert_unavailable(await post(client, owner, gid, "frozen"), started)
        started = time.monotonic()
        history = await client.get(f"/api/v1/groups/{gid}/messages", headers=owner.headers)
        await assert_unavailable(history, started)
        await socket.send({"type": "message", "text": "by socket", "client_msg_id": "by-socket"})
        error = await socket.until(lambda frame: frame["type"] == "error", timeout=10)
        assert (error["code"], error["client_msg_id"]) == ("unavailable", "by-socket")
        own_server.thaw()

        own_server.kill()  # a crashed server: connections refused
        started = time.monotonic()
        await assert_unavailable(await post(client, owner, gid, "killed"), started)
        health = await client.get("/health/db")
        assert (health.status_code, health.json()["mongodb"]) == (503, "unavailable")
        # A socket opened meanwhile cannot load its history: closed with 1013, to come back later.
        late = AsgiWebSocket(client.app, f"/ws/group/{gid}", f"token={owner.access_token}")
        async with late:
            assert await late.close_code(timeout=10) == 1013

        own_server.start()  # same port, same folder
        # The client retries what failed, with the same client_msg_id: each is stored once.
        for text in ["frozen", "killed"]:
            deadline = time.monotonic() + 20
            while (response := await post(client, owner, gid, text)).status_code == 503:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.5)
            assert response.status_code in {200, 201}, response.text
            committed.append(text)
        await socket.send({"type": "message", "text": "by socket", "client_msg_id": "by-socket"})
        await socket.until(
            lambda frame: frame["type"] == "message" and frame["text"] == "by socket", timeout=10
        )

    page = (await client.get(f"/api/v1/groups/{gid}/messages", headers=owner.headers)).json()["items"]
    texts = [m["text"] for m in page if m["type"] == "message"]
    assert sorted(texts) == sorted([*committed, "by socket"])
    assert [m["seq"] for m in page] == list(range(1, len(page) + 1))
