"""Fan-out on real Granian workers, on every backend (embedded: one worker, SQLite, in-process broker;
cluster: two workers, PostgreSQL, Redis; redis-cluster: the same on a 3+3 Redis Cluster, sharded
pub/sub): a burst reaches many sockets complete and in order on `huddle.v2` (several events per
frame) and `huddle.v1` (one per frame), resume is exactly-once on each, and the seed's socket speaks
only the seed's vocabulary unless asked for more."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import websockets

from tests.helpers import eventually
from tests.process import Server, backend_server
from tests.wsclient import User, WSClient, group_with, sign_up

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LIMITS = {"BCRYPT_ROUNDS": "4", "LOGIN_RATE_LIMIT": "100000", "WS_FRAMES_PER_SECOND": "1000"}
BURST = 150


@pytest.fixture(scope="module", params=["embedded", "cluster", "redis-cluster"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with backend_server(request.param, tmp_path_factory.mktemp(request.param), **LIMITS) as running:
        yield running


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def user_socket(
    server: Server, user: User, protocol: str, group: int, last_seq: int | None
) -> WSClient:
    client = await WSClient.connect(server.ws_url("/ws"), subprotocols=[protocol, f"bearer.{user.token}"])
    assert client.connection.subprotocol == protocol
    await client.send({"type": "resume", "groups": {str(group): last_seq}})
    await client.expect("subscribed")
    return client


def messages(client: WSClient, group: int) -> list[str]:
    return [f["text"] for f in client.frames if f.get("type") == "message" and f.get("group_id") == group]


async def test_a_burst_reaches_every_socket_complete_and_in_order(
    server: Server, http: httpx.AsyncClient
) -> None:
    ann = await sign_up(http, "Ann")
    members = [await sign_up(http, f"M{i}") for i in range(12)]
    group = await group_with(http, ann, *members)
    protocols = ["huddle.v2", "huddle.v1"]
    clients = [await user_socket(server, m, protocols[i % 2], group, 0) for i, m in enumerate(members)]
    sender = await user_socket(server, ann, "huddle.v2", group, 0)
    try:
        for i in range(BURST):  # pipelined: the sender does not wait for acks
            await sender.send(
                {"type": "message", "group_id": group, "text": f"burst {i}", "client_msg_id": f"b{i}"}
            )
        expected = [f"burst {i}" for i in range(BURST)]
        for client in [*clients, sender]:
            await client.expect(lambda f: f.get("text") == f"burst {BURST - 1}", timeout=60)
            assert messages(client, group) == expected
            seqs = client.sequenced(group)
            assert seqs == sorted(set(seqs)), "every seq once, in order"
        for client in clients[1::2]:  # huddle.v1: one event per frame, always
            assert all("\n" not in raw for raw in client.raw_frames)
        # Every message answered once, and stored in the order sent (acks may arrive in any order,
        # and after the broadcast: a message is acknowledged once it is committed and published).
        await eventually(lambda: sum(f.get("type") == "ack" for f in sender.frames) >= BURST, timeout=60)
        ack_frames = [f for f in sender.frames if f.get("type") == "ack"]
        acks = {f["client_msg_id"]: f["seq"] for f in ack_frames}
        assert len(ack_frames) == BURST
        assert sorted(acks, key=acks.__getitem__) == [f"b{i}" for i in range(BURST)]
    finally:
        for client in [*clients, sender]:
            await client.close()


@pytest.mark.parametrize("protocol", ["huddle.v2", "huddle.v1"])
async def test_resume_after_a_reconnect_is_exactly_once(
    server: Server, http: httpx.AsyncClient, protocol: str
) -> None:
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    group = await group_with(http, ann, bob)  # seq 1: Bob was added
    sender = await user_socket(server, ann, "huddle.v2", group, 0)
    bob_socket = await user_socket(server, bob, protocol, group, 0)
    try:
        for i in range(40):
            await sender.send({"type": "message", "group_id": group, "text": f"first {i}"})
        await bob_socket.expect(lambda f: f.get("text") == "first 19", timeout=30)
        await bob_socket.close()  # mid-burst: part of it is missed
        seen = bob_socket.sequenced(group)
        for i in range(40):
            await sender.send({"type": "message", "group_id": group, "text": f"second {i}"})
        await sender.expect(lambda f: f.get("text") == "second 39", timeout=30)
        back = await user_socket(server, bob, protocol, group, seen[-1])
        try:
            await back.expect(lambda f: f.get("text") == "second 39", timeout=30)
            assert seen + back.sequenced(group) == list(range(1, 82))
        finally:
            await back.close()
    finally:
        await sender.close()


async def test_the_seeds_websocket_test(server: Server, http: httpx.AsyncClient) -> None:
    """Seed 000's test on its own path: connect, send {"text": "Hello World!"}, and the very next frame
    is that message, with the seed's fields."""
    ann = await sign_up(http, "Ann")
    group = await group_with(http, ann)
    async with websockets.connect(server.ws_url(f"/ws/group/{group}?token={ann.token}")) as websocket:
        await websocket.send(json.dumps({"text": "Hello World!"}))
        data = json.loads(await asyncio.wait_for(websocket.recv(), 10))
    assert data["text"] == "Hello World!"
    assert (data["type"], data["user"], data["group_id"]) == ("message", ann.email, group)
    assert data["created_at"].endswith("Z")


async def test_the_seed_socket_gets_the_seeds_vocabulary_only(
    server: Server, http: httpx.AsyncClient
) -> None:
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    group = await group_with(http, ann)
    seed = await WSClient.connect(server.ws_url(f"/ws/group/{group}?token={ann.token}"))
    asked = await WSClient.connect(server.ws_url(f"/ws/group/{group}?token={ann.token}&events=all"))
    try:
        await asked.expect("subscribed")
        await seed.send({"type": "typing"})  # presence, typing, acks and edits: not the seed's
        await seed.send({"type": "message", "text": "edit me", "client_msg_id": "e1"})
        sent = await asked.expect(lambda f: f.get("text") == "edit me")
        edited = await http.patch(
            f"/api/v1/groups/{group}/messages/{sent['seq']}", json={"text": "edited"}, headers=ann.headers
        )
        assert edited.status_code == 200, edited.text
        added = await http.post(f"/groups/{group}/members", json={"email": bob.email}, headers=ann.headers)
        assert added.status_code in (200, 201), added.text
        await seed.send(
            {"type": "video_control", "video_action": "play", "video_name": "a.mp4", "video_time": 1}
        )
        await asked.expect("message_edited")
        await asked.expect("playback_state")
        await seed.expect(lambda f: f.get("type") == "video_control")
        await seed.send({"type": "ping", "t": 1})  # a reply to the client's own frame does come
        await seed.expect("pong")
        assert [f["type"] for f in seed.frames] == ["message", "add", "video_control", "pong"]
        assert {"ready", "subscribed", "typing"} <= {f["type"] for f in asked.frames}
    finally:
        await seed.close()
        await asked.close()


async def test_the_seed_socket_offering_a_huddle_subprotocol_gets_everything(
    server: Server, http: httpx.AsyncClient
) -> None:
    ann = await sign_up(http, "Ann")
    group = await group_with(http, ann)
    client = await WSClient.connect(
        server.ws_url(f"/ws/group/{group}?token={ann.token}"), subprotocols=["huddle.v1"]
    )
    try:
        assert client.connection.subprotocol == "huddle.v1"
        await client.expect("ready")
        await client.expect("subscribed")
    finally:
        await client.close()
