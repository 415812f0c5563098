"""Messages over HTTP: send (idempotent), history, edit, delete, reactions, receipts, search, events."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from redis.asyncio import RedisCluster

from app.broker import Broker, group_channel
from app.broker.redis_broker import RedisBroker
from app.broker.sharded import ShardedRedisBroker
from app.server.app import runtime_of
from app.ws.envelope import Kind, unpack
from tests.conftest import WITH_REDIS_CLUSTER, AppClient
from tests.helpers import Account, register
from tests.integration.messages.conftest import BACKENDS
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def setup_pair(client: AppClient) -> tuple[Account, Account, int]:
    owner, member = await register(client, name="Owner"), await register(client, name="Member")
    gid = (await client.post("/groups", json={"name": "Chat"}, headers=owner.headers)).json()["id"]
    await client.post(f"/groups/{gid}/members", json={"email": member.email}, headers=owner.headers)
    return owner, member, gid


async def send(client: AppClient, who: Account, gid: int, text: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/groups/{gid}/messages", json={"text": text} | extra, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_send_returns_the_seed_shape_with_seq(client: AppClient) -> None:
    owner, _, gid = await setup_pair(client)
    message = await send(client, owner, gid, "Hello everyone!", client_msg_id="c-1")
    assert message == {
        "type": "message",
        "id": message["id"],
        "seq": 2,
        "group_id": gid,
        "text": "Hello everyone!",
        "user": owner.email,
        "user_id": owner.user["id"],
        "user_name": "Owner",
        "created_at": message["created_at"],
        "client_msg_id": "c-1",
        "reply_to": None,
        "video_id": None,
        "edited_at": None,
        "deleted": False,
        "reactions": [],
        "attachments": [],
        "mentions": [],
    }


@WITH_REDIS_CLUSTER
async def test_events_are_published_after_the_write(client: AppClient) -> None:
    owner, _, gid = await setup_pair(client)
    runtime = runtime_of(client.app)
    seen: list[dict[str, Any]] = []

    def handler(channel: str, payload: bytes) -> None:
        seq, kind, _, _, raw = unpack(payload)
        frame = msgspec.json.decode(raw)
        assert (seq, kind) == (frame["seq"], Kind.SEQUENCED)
        stored = asyncio.get_running_loop().create_task(runtime.messages.get(gid, frame["seq"]))
        seen.append({"channel": channel, "frame": frame, "stored": stored})

    # The app's broker already has a listener (the gateway's): Redis gets a second subscriber of its
    # own rather than a second listener racing the first on one connection.
    redis = runtime.redis
    prefix = runtime.settings.redis_key_prefix
    listener: Broker = runtime.broker
    if isinstance(redis, RedisCluster):
        listener = ShardedRedisBroker(redis, runtime.settings.redis_url or "", prefix)
    elif redis is not None:
        listener = RedisBroker(redis, prefix)
    await listener.start(handler)
    try:
        await listener.subscribe(group_channel(gid))
        message = await send(client, owner, gid, "published")
        for _ in range(500):  # pub/sub delivers asynchronously: wait for it, up to 5 s
            if seen:
                break
            await asyncio.sleep(0.01)
    finally:
        if listener is not runtime.broker:
            await listener.close()
    assert [s["channel"] for s in seen] == [f"g:{gid}"]
    assert seen[0]["frame"] == message
    assert (await seen[0]["stored"]).text == "published"  # readable when the event went out


async def test_idempotent_send(client: AppClient) -> None:
    owner, _, gid = await setup_pair(client)
    first = await send(client, owner, gid, "once", client_msg_id="retry-me")
    retry = await client.post(
        f"/api/v1/groups/{gid}/messages",
        json={"text": "once", "client_msg_id": "retry-me"},
        headers=owner.headers,
    )
    assert retry.status_code == 200
    assert retry.json()["seq"] == first["seq"]
    changed = await client.post(
        f"/api/v1/groups/{gid}/messages",
        json={"text": "different", "client_msg_id": "retry-me"},
        headers=owner.headers,
    )
    assert changed.status_code == 409
    history = (await client.get(f"/api/v1/groups/{gid}/messages", headers=owner.headers)).json()["items"]
    assert [m["seq"] for m in history] == [1, 2]


async def test_concurrent_sends_keep_seq_gap_free(client: AppClient) -> None:
    owner, member, gid = await setup_pair(client)
    results = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/groups/{gid}/messages",
                json={"text": f"m{i}"},
                headers=(owner, member)[i % 2].headers,
            )
            for i in range(30)
        )
    )
    assert {r.status_code for r in results} == {201}
    seqs = sorted(r.json()["seq"] for r in results)
    assert seqs == list(range(2, 32))


async def test_history_keyset_and_seed_offset(client: AppClient) -> None:
    owner, member, gid = await setup_pair(client)
    for i in range(1, 8):
        await send(client, owner, gid, f"m{i}")  # seqs 2..8
    page = (
        await client.get(f"/api/v1/groups/{gid}/messages", params={"limit": 3}, headers=member.headers)
    ).json()
    assert ([m["seq"] for m in page["items"]], page["has_more"]) == ([6, 7, 8], True)
    older = (
        await client.get(
            f"/api/v1/groups/{gid}/messages", params={"limit": 10, "before_seq": 6}, headers=member.headers
        )
    ).json()
    assert ([m["seq"] for m in older["items"]], older["has_more"]) == ([1, 2, 3, 4, 5], False)
    newer = (
        await client.get(
            f"/api/v1/groups/{gid}/messages", params={"after_seq": 4, "limit": 2}, headers=member.headers
        )
    ).json()
    assert ([m["seq"] for m in newer["items"]], newer["has_more"]) == ([5, 6], True)
    seed = (
        await client.get(
            "/messages", params={"group_id": gid, "limit": 3, "offset": 1}, headers=member.headers
        )
    ).json()
    assert [(m["seq"], m["text"]) for m in seed] == [(7, "m6"), (6, "m5"), (5, "m4")]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"before_seq": -1}, {"after_seq": "x"}, {"before_seq": "9" * 25}],
)
async def test_history_rejects_bad_cursors(client: AppClient, params: dict[str, Any]) -> None:
    owner, _, gid = await setup_pair(client)
    response = await client.get(f"/api/v1/groups/{gid}/messages", params=params, headers=owner.headers)
    assert response.status_code == 400


async def test_seed_history_needs_group_id(client: AppClient) -> None:
    owner, _, _ = await setup_pair(client)
    assert (await client.get("/messages", headers=owner.headers)).status_code == 400
    assert (
        await client.get("/messages", params={"group_id": "abc"}, headers=owner.headers)
    ).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": "   \n\t"},
        {"text": "x" * 10_001},
        {"text": None},
        {},
        {"text": "ok", "client_msg_id": "has space"},
        {"text": "ok", "client_msg_id": "x" * 65},
        {"text": "ok", "reply_to": 0},
    ],
)
async def test_send_rejects_bad_bodies(client: AppClient, body: dict[str, Any]) -> None:
    owner, _, gid = await setup_pair(client)
    response = await client.post(f"/api/v1/groups/{gid}/messages", json=body, headers=owner.headers)
    assert response.status_code == 400
    items = (await client.get(f"/api/v1/groups/{gid}/messages", headers=owner.headers)).json()["items"]
    assert [m["type"] for m in items] == ["add"]  # nothing stored


async def test_text_limit_counts_code_points(client: AppClient) -> None:
    owner, _, gid = await setup_pair(client)
    message = await send(client, owner, gid, "😀" * 10_000)  # 40,000 bytes, 10,000 code points
    assert len(message["text"]) == 10_000


async def test_replies_must_point_into_the_same_group(client: AppClient) -> None:
    owner, member, gid = await setup_pair(client)
    original = await send(client, owner, gid, "question")
    reply = await send(client, member, gid, "answer", reply_to=original["seq"])
    assert reply["reply_to"] == original["seq"]
    other_gid = (await client.post("/groups", json={"name": "Other"}, headers=owner.headers)).json()["id"]
    foreign = await send(client, owner, other_gid, "elsewhere")
    assert foreign["seq"] == 1
    missing = await client.post(
        f"/api/v1/groups/{gid}/messages", json={"text": "x", "reply_to": 999}, headers=owner.headers
    )
    assert missing.status_code == 404


async def test_edit_and_delete_permissions(client: AppClient) -> None:
    owner, member, gid = await setup_pair(client)
    mine = await send(client, member, gid, "typo")
    theirs = await send(client, owner, gid, "owner's words")
    path = f"/api/v1/groups/{gid}/messages"
    edited = await client.patch(f"{path}/{mine['seq']}", json={"text": "fixed"}, headers=member.headers)
    assert edited.status_code == 200
    assert (edited.json()["text"], edited.json()["edited_at"] is not None) == ("fixed", True)
    assert (
        await client.patch(f"{path}/{theirs['seq']}", json={"text": "no"}, headers=member.headers)
    ).status_code == 403
    assert (await client.delete(f"{path}/{theirs['seq']}", headers=member.headers)).status_code == 403
    assert (
        await client.patch(f"{path}/1", json={"text": "system"}, headers=owner.headers)
    ).status_code == 404
    assert (await client.delete(f"{path}/{mine['seq']}", headers=owner.headers)).status_code == 204  # admin
    assert (await client.delete(f"{path}/{mine['seq']}", headers=owner.headers)).status_code == 404
    items = (await client.get(path, headers=member.headers)).json()["items"]
    tomb = next(m for m in items if m["seq"] == mine["seq"])
    assert (tomb["deleted"], tomb["text"]) == (True, "")
    assert [m["seq"] for m in items] == [1, 2, 3]  # the seq stays


async def test_reactions_counts_and_me(client: AppClient) -> None:
    owner, member, gid = await setup_pair(client)
    message = await send(client, owner, gid, "react to me")
    base = f"/api/v1/groups/{gid}/messages/{message['seq']}/reactions"
    assert (await client.put(f"{base}/👍", headers=owner.headers)).json() == [
        {"emoji": "👍", "count": 1, "me": True}
    ]
    assert (await client.put(f"{base}/👍", headers=member.headers)).json() == [
        {"emoji": "👍", "count": 2, "me": True}
    ]
    history = (await client.get(f"/api/v1/groups/{gid}/messages", headers=member.headers)).json()["items"]
    assert history[-1]["reactions"] == [{"emoji": "👍", "count": 2, "me": True}]
    assert (await client.delete(f"{base}/👍", headers=owner.headers)).json() == [
        {"emoji": "👍", "count": 1, "me": False}
    ]
    assert (await client.put(f"{base}/{'x' * 17}", headers=owner.headers)).status_code == 400
    assert (
        await client.put(f"/api/v1/groups/{gid}/messages/999/reactions/👍", headers=owner.headers)
    ).status_code == 404


async def test_only_a_reaction_that_changes_something_is_announced(client: AppClient) -> None:
    """The same reaction twice is one `add`; removing one never made announces nothing."""
    owner, _, gid = await setup_pair(client)
    message = await send(client, owner, gid, "react to me")
    base = f"/api/v1/groups/{gid}/messages/{message['seq']}/reactions"
    socket = AsgiWebSocket(client.app, f"/ws/group/{gid}", f"token={owner.access_token}&events=all")
    async with socket:
        await socket.until(lambda frame: frame["type"] == "subscribed")
        assert (await client.put(f"{base}/👍", headers=owner.headers)).status_code == 200
        assert (await client.put(f"{base}/👍", headers=owner.headers)).status_code == 200
        assert (await client.delete(f"{base}/🎉", headers=owner.headers)).status_code == 200
        await send(client, owner, gid, "after")  # everything published before it arrives first
        seen: list[dict[str, Any]] = []
        while (frame := await socket.frame())["type"] != "message" or frame["text"] != "after":
            seen.append(frame)
    assert [(f["action"], f["emoji"]) for f in seen if f["type"] == "reaction"] == [("add", "👍")]


async def test_reaction_kinds_are_capped(client: AppClient) -> None:
    owner, _, gid = await setup_pair(client)
    message = await send(client, owner, gid, "so many")
    base = f"/api/v1/groups/{gid}/messages/{message['seq']}/reactions"
    for i in range(20):
        assert (await client.put(f"{base}/e{i}", headers=owner.headers)).status_code == 200
    assert (await client.put(f"{base}/one-more", headers=owner.headers)).status_code == 422


async def test_read_receipts_and_unread_counts(client: AppClient) -> None:
    owner, member, gid = await setup_pair(client)
    for i in range(3):
        last = await send(client, owner, gid, f"m{i}")
    groups = (await client.get("/api/v1/groups", headers=member.headers)).json()
    assert groups[0]["unread_count"] == 4  # the add notice and three messages
    assert (await client.get("/api/v1/groups", headers=owner.headers)).json()[0][
        "unread_count"
    ] == 0  # own sends

    read = await client.post(f"/api/v1/groups/{gid}/read", json={"seq": 3}, headers=member.headers)
    assert read.json() == {"group_id": gid, "last_read_seq": 3, "unread_count": 1}
    back = await client.post(f"/api/v1/groups/{gid}/read", json={"seq": 1}, headers=member.headers)
    assert back.json()["last_read_seq"] == 3  # never backwards
    beyond = await client.post(f"/api/v1/groups/{gid}/read", json={"seq": 10**12}, headers=member.headers)
    assert beyond.json() == {"group_id": gid, "last_read_seq": last["seq"], "unread_count": 0}

    readers = (
        await client.get(f"/api/v1/groups/{gid}/messages/{last['seq']}/readers", headers=owner.headers)
    ).json()
    assert [(r["user_id"], r["last_read_seq"]) for r in readers] == [(member.user["id"], last["seq"])]


async def test_a_message_deleted_before_it_was_read_is_not_unread(client: AppClient) -> None:
    owner, member, gid = await setup_pair(client)
    sent = [await send(client, owner, gid, f"m{i}") for i in range(3)]
    await client.post(f"/api/v1/groups/{gid}/read", json={"seq": sent[0]["seq"]}, headers=member.headers)
    for gone in (sent[0], sent[1]):  # one already read, one not
        deleted = await client.delete(f"/api/v1/groups/{gid}/messages/{gone['seq']}", headers=owner.headers)
        assert deleted.status_code == 204, deleted.text
    groups = (await client.get("/api/v1/groups", headers=member.headers)).json()
    assert groups[0]["unread_count"] == 1  # m2 only
    read = await client.post(
        f"/api/v1/groups/{gid}/read", json={"seq": sent[0]["seq"]}, headers=member.headers
    )
    assert read.json()["unread_count"] == 1


async def test_search_within_my_groups(client: AppClient) -> None:
    owner, member, gid = await setup_pair(client)
    await send(client, owner, gid, "the popcorn is ready")
    await send(client, member, gid, "bring popcorn tomorrow")
    outsider = await register(client)
    other = (await client.post("/groups", json={"name": "Secret"}, headers=outsider.headers)).json()["id"]
    await send(client, outsider, other, "secret popcorn stash")

    found = (
        await client.get("/api/v1/messages/search", params={"q": "popcorn"}, headers=member.headers)
    ).json()
    assert [m["text"] for m in found["items"]] == ["bring popcorn tomorrow", "the popcorn is ready"]
    assert found["next_offset"] is None
    paged = (
        await client.get(
            "/api/v1/messages/search", params={"q": "popcorn", "limit": 1}, headers=member.headers
        )
    ).json()
    assert (len(paged["items"]), paged["next_offset"]) == (1, 1)
    scoped = await client.get(
        "/api/v1/messages/search", params={"q": "popcorn", "group_id": other}, headers=member.headers
    )
    assert scoped.status_code == 404
    assert (
        await client.get("/api/v1/messages/search", params={"q": ""}, headers=member.headers)
    ).status_code == 400
