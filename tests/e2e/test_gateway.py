"""The WebSocket gateway on a real server (embedded mode, one Granian worker): protocol, auth, resume,
bad input, control events."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.process import Server, run_server
from tests.wsclient import User, WSClient, group_with, sign_up, ticket

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LIMITS = {
    "BCRYPT_ROUNDS": "4",
    "LOGIN_RATE_LIMIT": "10000",
    "WS_INITIAL_MESSAGES": "5",
    "WS_RESUME_LIMIT": "20",
    "WS_FRAMES_PER_SECOND": "20",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("gateway"), **LIMITS) as running:
        yield running


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def seed_socket(server: Server, user: User, group_id: int, last_seq: int | None = None) -> WSClient:
    query = f"?token={user.token}&events=all" + (f"&last_seq={last_seq}" if last_seq is not None else "")
    client = await WSClient.connect(server.ws_url(f"/ws/group/{group_id}{query}"))
    await client.expect("ready")
    await client.expect("subscribed")
    return client


async def send_rest(http: httpx.AsyncClient, user: User, group_id: int, text: str) -> int:
    response = await http.post(
        f"/api/v1/groups/{group_id}/messages", json={"text": text}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["seq"])


async def test_seed_socket_chat_both_ways(server: Server, http: httpx.AsyncClient) -> None:
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    group = await group_with(http, ann, bob)
    a, b = await seed_socket(server, ann, group), await seed_socket(server, bob, group)
    try:
        await a.send({"type": "message", "text": "Hello everyone!", "client_msg_id": "m-1"})
        ack = await a.expect("ack")
        assert (ack["client_msg_id"], ack["group_id"], ack["seq"]) == ("m-1", group, 2)
        received = await b.expect(lambda f: f.get("type") == "message")
        assert {k: received[k] for k in ("type", "text", "user", "group_id", "seq", "client_msg_id")} == {
            "type": "message",
            "text": "Hello everyone!",
            "user": ann.email,
            "group_id": group,
            "seq": 2,
            "client_msg_id": "m-1",
        }
        assert received["created_at"].endswith("Z")
        await b.send({"text": "untyped, as the seed's tests send it"})
        assert (await a.expect("message"))["text"] == "untyped, as the seed's tests send it"
        # the same message comes back to its sender exactly once
        await asyncio.sleep(0.2)
        assert a.sequenced(group) == [1, 2, 3]
    finally:
        await a.close()
        await b.close()


async def test_user_socket_with_ticket_and_resume(server: Server, http: httpx.AsyncClient) -> None:
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    group = await group_with(http, ann, bob)
    for i in range(3):
        await send_rest(http, ann, group, f"before {i}")  # seqs 2..4
    one_time = await ticket(http, bob)
    b = await WSClient.connect(server.ws_url(f"/ws?ticket={one_time}"))
    try:
        ready = await b.expect("ready")
        assert (ready["user_id"], ready["groups"]) == (bob.user_id, [group])
        await b.send({"type": "resume", "groups": {str(group): 2}})
        subscribed = await b.expect("subscribed")
        assert (subscribed["group_id"], subscribed["latest_seq"]) == (group, 4)
        await b.expect(lambda f: f.get("seq") == 4)
        await send_rest(http, ann, group, "live")
        await b.expect(lambda f: f.get("text") == "live")
        assert b.sequenced(group) == [3, 4, 5]
    finally:
        await b.close()
    reused = await WSClient.connect(server.ws_url(f"/ws?ticket={one_time}"))
    assert await reused.close_code() == (4401, "Ticket has already been used")


async def test_bearer_subprotocol(server: Server, http: httpx.AsyncClient) -> None:
    ann = await sign_up(http, "Ann")
    client = await WSClient.connect(server.ws_url("/ws"), subprotocols=["huddle.v1", f"bearer.{ann.token}"])
    try:
        assert client.connection.subprotocol == "huddle.v1"
        assert (await client.expect("ready"))["user_id"] == ann.user_id
    finally:
        await client.close()


async def test_first_connection_gets_the_latest_messages(server: Server, http: httpx.AsyncClient) -> None:
    ann = await sign_up(http, "Ann")
    group = await group_with(http, ann)
    for i in range(8):
        await send_rest(http, ann, group, f"m{i}")  # seqs 1..8
    client = await seed_socket(server, ann, group)
    try:
        await client.expect(lambda f: f.get("seq") == 8)
        assert client.sequenced(group) == [4, 5, 6, 7, 8]  # WS_INITIAL_MESSAGES=5
    finally:
        await client.close()


async def test_resume_after_a_disconnect_is_exact_and_a_long_gap_resets(
    server: Server, http: httpx.AsyncClient
) -> None:
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    group = await group_with(http, ann, bob)
    b = await seed_socket(server, bob, group)
    await b.expect(lambda f: f.get("seq") == 1)
    await b.close()
    for i in range(6):
        await send_rest(http, ann, group, f"missed {i}")  # 2..7
    back = await seed_socket(server, bob, group, last_seq=1)
    try:
        await back.expect(lambda f: f.get("seq") == 7)
        await send_rest(http, ann, group, "after")
        await back.expect(lambda f: f.get("seq") == 8)
        assert back.sequenced(group) == list(range(2, 9))
    finally:
        await back.close()
    for i in range(25):
        await send_rest(http, ann, group, f"long gap {i}")  # 9..33
    late = await seed_socket(server, bob, group, last_seq=8)
    try:
        reset = await late.expect("reset")
        assert reset == {"type": "reset", "group_id": group, "latest_seq": 33}
        await send_rest(http, ann, group, "fresh")
        await late.expect(lambda f: f.get("seq") == 34)
        assert late.sequenced(group) == [34]
    finally:
        await late.close()


async def test_refusals(server: Server, http: httpx.AsyncClient) -> None:
    ann, stranger = await sign_up(http, "Ann"), await sign_up(http, "Stranger")
    group = await group_with(http, ann)
    for url, expected in [
        (f"/ws/group/{group}", (4401, "Not authenticated")),
        (f"/ws/group/{group}?token=not-a-jwt", (4401, "Invalid token")),
        (f"/ws/group/{group}?token={stranger.token}", (4404, "group not found")),
        (f"/ws/group/999999?token={ann.token}", (4404, "group not found")),
        (f"/ws?token={ann.token}", None),
    ]:
        client = await WSClient.connect(server.ws_url(url))
        if expected is None:
            await client.expect("ready")
            await client.close()
        else:
            assert await client.close_code() == expected, url
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            server.ws_url(f"/ws/group/{group}?token={ann.token}"), origin="https://evil.example"
        )
    assert refused.value.response.status_code == 403
    same_origin = await WSClient.connect(
        server.ws_url(f"/ws?token={ann.token}"), origin=f"http://127.0.0.1:{server.port}"
    )
    await same_origin.expect("ready")
    await same_origin.close()


async def test_bad_frames_get_error_frames_and_store_nothing(server: Server, http: httpx.AsyncClient) -> None:
    ann = await sign_up(http, "Ann")
    group = await group_with(http, ann)
    client = await seed_socket(server, ann, group)
    try:
        cases = [
            ("{not json", "invalid_json"),
            (json.dumps({"type": "message", "text": ""}), "invalid_frame"),
            (json.dumps({"type": "message", "text": "x" * 10_001}), "invalid_frame"),
            (json.dumps({"type": "message", "text": 42}), "invalid_frame"),
            (json.dumps({"type": "nonsense"}), "invalid_frame"),
            (json.dumps([1, 2]), "invalid_frame"),
            (json.dumps({"type": "video_control", "video_action": "explode"}), "invalid_frame"),
            (json.dumps({"type": "seen", "seq": -1}), "invalid_frame"),
            (json.dumps({"type": "message", "text": "hi", "group_id": 999999}), "not_found"),
            (json.dumps({"type": "resume", "groups": {"1": 0, "2": 0}}), "bad_request"),
        ]
        for raw, code in cases:
            await client.send(raw)
            error = await client.expect("error")
            assert error["code"] == code, (raw[:40], error)
        await client.connection.send(b"\x00binary")
        assert (await client.expect("error"))["code"] == "binary_frame"
        await client.send({"type": "ping", "t": 1.5})
        pong = await client.expect("pong")
        assert pong["t"] == 1.5
        assert pong["server_time"] > 1.7e12
    finally:
        await client.close()
    history = await http.get(f"/api/v1/groups/{group}/messages", headers=ann.headers)
    assert [m["type"] for m in history.json()["items"]] == []


async def test_pipelined_sends_are_stored_in_order_and_each_answered(
    server: Server, http: httpx.AsyncClient
) -> None:
    """A client that sends without waiting for acks: every message is stored once, in the order sent;
    each gets its ack (or, refused, its error) by client_msg_id."""
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    group = await group_with(http, ann, bob)
    a, b = await seed_socket(server, ann, group), await seed_socket(server, bob, group)
    try:
        sent = [f"p-{i}" for i in range(30)]
        for client_msg_id in sent:
            frame: dict[str, object] = {
                "type": "message",
                "text": client_msg_id,
                "client_msg_id": client_msg_id,
            }
            if client_msg_id == "p-10":
                frame["reply_to"] = 999_999  # refused: no such message
            await a.send(frame)
        answers = [await a.expect(lambda f: f.get("type") in ("ack", "error")) for _ in sent]
        assert {f["client_msg_id"]: f["type"] for f in answers} == {
            i: "error" if i == "p-10" else "ack" for i in sent
        }
        acked = sorted((f["seq"], f["client_msg_id"]) for f in answers if f["type"] == "ack")
        assert [client_msg_id for _, client_msg_id in acked] == [i for i in sent if i != "p-10"]
        received = [(await b.expect("message"))["text"] for _ in range(29)]
        assert received == [i for i in sent if i != "p-10"]
    finally:
        await a.close()
        await b.close()


async def test_a_client_gone_before_the_handshake_completes_leaves_nothing_behind(
    server: Server, http: httpx.AsyncClient
) -> None:
    """The socket is set up (subscribed) before it is accepted: a client that hangs up meanwhile must
    not leave a registered socket, a subscription or an error behind."""
    ann = await sign_up(http, "Ann")
    group = await group_with(http, ann)
    host, port = server.url.removeprefix("http://").split(":")
    for attempt in range(20):
        _, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /ws/group/{group}?token={ann.token} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await writer.drain()
        if attempt % 2:
            await asyncio.sleep(0.005)  # some hang up during the set-up, some at once
        writer.close()
    async with asyncio.timeout(10):
        while (await http.get("/api/v1/ws/stats", headers=ann.headers)).json()["sockets"]:
            await asyncio.sleep(0.1)
    client = await seed_socket(server, ann, group)  # the worker still serves
    await client.close()
    assert "Traceback" not in server.output()


async def test_oversized_frame_closes_with_1009(server: Server, http: httpx.AsyncClient) -> None:
    ann = await sign_up(http, "Ann")
    group = await group_with(http, ann)
    client = await seed_socket(server, ann, group)
    await client.send(json.dumps({"type": "message", "text": "y" * (70 * 1024)}))
    assert (await client.close_code())[0] == 1009
    huge = await seed_socket(server, ann, group)
    await huge.send("z" * (10 * 1024 * 1024))  # a 10 MB frame
    assert (await huge.close_code())[0] == 1009
    history = await http.get(f"/api/v1/groups/{group}/messages", headers=ann.headers)
    assert history.json()["items"] == []


async def test_flood_is_rate_limited_and_the_worker_survives(server: Server, http: httpx.AsyncClient) -> None:
    ann = await sign_up(http, "Ann")
    group = await group_with(http, ann)
    client = await seed_socket(server, ann, group)
    try:
        for _ in range(150):  # the burst allows 3 s worth (60 frames)
            await client.send({"type": "ping", "t": 0})
        error = await client.expect("error")
        assert error["code"] == "rate_limited"
    finally:
        await client.close()
    assert (await http.get("/health")).status_code == 200


async def test_removed_member_stops_receiving_at_once(server: Server, http: httpx.AsyncClient) -> None:
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    group = await group_with(http, ann, bob)
    b = await seed_socket(server, bob, group)
    try:
        removed = await http.delete(f"/api/v1/groups/{group}/members/{bob.user_id}", headers=ann.headers)
        assert removed.status_code == 204
        leave = await b.expect("leave")
        assert leave["user_email"] == bob.email
        await send_rest(http, ann, group, "secret after removal")
        await asyncio.sleep(0.5)
        assert all(f.get("text") != "secret after removal" for f in b.frames)
        await b.send({"type": "message", "text": "still here?"})
        assert (await b.expect("error"))["code"] == "not_found"
    finally:
        await b.close()


async def test_logout_and_password_change_close_sockets(server: Server, http: httpx.AsyncClient) -> None:
    ann = await sign_up(http, "Ann")
    group = await group_with(http, ann)
    other_login = await http.post("/token", data={"username": ann.email, "password": "correct horse battery"})
    other = User(ann.email, other_login.json()["access_token"], ann.user_id, "Ann")
    mine, theirs = await seed_socket(server, ann, group), await seed_socket(server, other, group)
    changed = await http.post(
        "/api/v1/users/me/password",
        headers=ann.headers,
        json={"current_password": "correct horse battery", "new_password": "another long passphrase"},
    )
    assert changed.status_code == 204
    assert await theirs.close_code() == (4401, "session ended: password changed")
    await mine.send({"type": "ping", "t": 0})
    await mine.expect("pong")  # the session that changed the password stays
    assert (await http.post("/api/v1/auth/logout", headers=ann.headers)).status_code == 204
    assert await mine.close_code() == (4401, "session ended: logout")


async def test_added_member_socket_follows_the_new_group(server: Server, http: httpx.AsyncClient) -> None:
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    b = await WSClient.connect(server.ws_url(f"/ws?ticket={await ticket(http, bob)}"))
    try:
        await b.expect("ready")
        group = await group_with(http, ann, bob)
        added = await b.expect("add")
        assert (added["group_id"], added["user_email"]) == (group, bob.email)
        await send_rest(http, ann, group, "welcome")
        assert (await b.expect("message"))["text"] == "welcome"
    finally:
        await b.close()


async def test_typing_seen_presence_and_playback(server: Server, http: httpx.AsyncClient) -> None:
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    group = await group_with(http, ann, bob)
    a = await seed_socket(server, ann, group)
    b = await seed_socket(server, bob, group)
    try:
        online = await http.get(f"/api/v1/groups/{group}/online", headers=ann.headers)
        assert online.json() == {"group_id": group, "user_ids": sorted([ann.user_id, bob.user_id])}
        await a.send({"type": "typing"})
        await a.send({"type": "typing"})  # throttled
        typing = await b.expect("typing")
        assert typing == {
            "type": "typing",
            "group_id": group,
            "user_id": ann.user_id,
            "user_name": "Ann",
            "active": True,
        }
        # Stopping (the box cleared) is told at once, once: a repeated stop sends nothing.
        await a.send({"type": "typing", "active": False})
        await a.send({"type": "typing", "active": False})
        stopped = await b.expect("typing")
        assert (stopped["user_id"], stopped["active"]) == (ann.user_id, False)
        await b.send({"type": "seen", "seq": 1})
        seen = await a.expect("seen")
        assert (seen["user_id"], seen["seq"]) == (bob.user_id, 1)

        await a.send(
            {"type": "video_control", "video_action": "play", "video_name": "movie.mp4", "video_time": 12.5}
        )
        control = await b.expect("video_control")
        assert {k: control[k] for k in ("video_action", "video_name", "video_time", "user", "group_id")} == {
            "video_action": "play",
            "video_name": "movie.mp4",
            "video_time": 12.5,
            "user": ann.email,
            "group_id": group,
        }
        state = await b.expect("playback_state")
        assert (state["video_name"], state["position"], state["playing"], state["rate"]) == (
            "movie.mp4",
            12.5,
            True,
            1.0,
        )
        late = await seed_socket(server, bob, group)  # a late joiner gets the state on subscribe
        joined_state = await late.expect("playback_state")
        assert (joined_state["position"], joined_state["playing"]) == (12.5, True)
        assert joined_state["server_time"] >= joined_state["updated_at"]
        await late.close()

        await b.close()
        offline = await a.expect(lambda f: f.get("type") == "presence" and f.get("status") == "offline")
        assert offline["user_id"] == bob.user_id
        assert typing["user_id"] == ann.user_id
    finally:
        await a.close()
        await b.close()
    stats = await http.get("/api/v1/ws/stats", headers=ann.headers)
    assert stats.status_code == 200
    assert {"sockets", "groups", "delivered_frames", "worker_pid"} <= set(stats.json())


async def test_shutdown_closes_sockets_with_1012(tmp_path: Path) -> None:
    with run_server(tmp_path, **LIMITS) as own:
        async with httpx.AsyncClient(base_url=own.url) as http:
            ann = await sign_up(http, "Ann")
            group = await group_with(http, ann)
        client = await seed_socket(own, ann, group)
        own.stop()
        assert (await client.close_code())[0] == 1012
        assert own.process.returncode == 0
