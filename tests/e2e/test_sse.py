"""Server-Sent Events (`GET /api/v1/events`) on real Granian workers, on both backends: the socket's
events, resume by Last-Event-ID exactly once, a slow reader cut without slowing others, single-use
tickets, origin and cursor refusals, and the sockets unchanged beside it."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.process import Server, backend_server, run_server
from tests.sseclient import EventStreamClient
from tests.wsclient import WSClient, group_with, sign_up, ticket

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LIMITS = {
    "BCRYPT_ROUNDS": "4",
    "LOGIN_RATE_LIMIT": "100000",
    "WS_FRAMES_PER_SECOND": "1000",
    "WS_INITIAL_MESSAGES": "5",
    "WS_RESUME_LIMIT": "50",
    "WS_SEND_QUEUE": "64",
}


@pytest.fixture(scope="module", params=["embedded", "cluster"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with backend_server(request.param, tmp_path_factory.mktemp(request.param), **LIMITS) as running:
        yield running


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def send(http: httpx.AsyncClient, headers: dict[str, str], group: int, text: str) -> int:
    response = await http.post(f"/api/v1/groups/{group}/messages", json={"text": text}, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["seq"])


async def test_the_stream_carries_the_sockets_events(server: Server, http: httpx.AsyncClient) -> None:
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    group = await group_with(http, ann, bob)  # seq 1: Bob was added
    stream = await EventStreamClient.open(server.url, bob.headers)
    try:
        assert stream.status == 200
        assert stream.headers_seen is not None
        assert stream.headers_seen["content-type"].startswith("text/event-stream")
        assert stream.headers_seen["x-accel-buffering"] == "no"
        ready = await stream.expect("ready")
        assert (ready["_event"], ready["user_id"], ready["groups"]) == ("ready", bob.user_id, [group])
        assert (await stream.expect("subscribed"))["group_id"] == group
        await stream.expect(lambda e: e.get("type") == "add" and e["seq"] == 1)
        await send(http, ann.headers, group, "hello stream")
        message = await stream.expect(lambda e: e.get("text") == "hello stream")
        assert (message["_event"], message["seq"], message["user"]) == ("message", 2, ann.email)
        await stream.until(lambda: stream.last_id == f"{group}:2")  # the cursor line ends that write
        socket_client = await WSClient.connect(
            server.ws_url("/ws"), subprotocols=["huddle.v2", f"bearer.{ann.token}"]
        )
        await socket_client.send({"type": "resume", "groups": {str(group): 2}})
        await socket_client.expect("subscribed")
        await socket_client.send({"type": "typing", "group_id": group})
        typing = await stream.expect("typing")
        assert typing["user_id"] == ann.user_id  # events from sockets reach streams: one path
        await socket_client.close()
    finally:
        await stream.close()


async def test_resume_by_last_event_id_is_exactly_once(server: Server, http: httpx.AsyncClient) -> None:
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    first, second = await group_with(http, ann, bob), await group_with(http, ann, bob)
    stream = await EventStreamClient.open(server.url, bob.headers)
    for i in range(3):
        await send(http, ann.headers, first, f"one {i}")  # 2..4
    # Each group's replay and live events come in order, the two groups' in any order to each other.
    await stream.until(lambda: stream.sequenced(first)[-1:] == [4] and stream.sequenced(second) == [1])
    await stream.close()
    seen = {first: stream.sequenced(first), second: stream.sequenced(second)}
    assert seen == {first: [1, 2, 3, 4], second: [1]}
    last_id = stream.last_id
    assert last_id is not None
    for i in range(4):
        await send(http, ann.headers, first, f"missed {i}")  # 5..8
        await send(http, ann.headers, second, f"missed {i}")  # 2..5
    back = await EventStreamClient.open(server.url, bob.headers | {"Last-Event-ID": last_id})
    try:
        await back.until(lambda: back.sequenced(first)[-1:] == [8] and back.sequenced(second)[-1:] == [5])
        await send(http, ann.headers, first, "live")
        await back.until(lambda: back.sequenced(first)[-1:] == [9])
        assert back.sequenced(first) == [5, 6, 7, 8, 9]
        assert back.sequenced(second) == [2, 3, 4, 5]
    finally:
        await back.close()
    by_query = await EventStreamClient.open(server.url, bob.headers, f"?cursor={first}:8")
    try:
        await by_query.expect(lambda e: e.get("text") == "live")
        assert by_query.sequenced(first) == [9]
    finally:
        await by_query.close()


async def test_far_behind_gets_reset(server: Server, http: httpx.AsyncClient) -> None:
    ann = await sign_up(http, "Ann")
    group = await group_with(http, ann)
    for i in range(60):
        await send(http, ann.headers, group, f"m{i}")
    stream = await EventStreamClient.open(server.url, ann.headers, f"?cursor={group}:1")
    try:
        reset = await stream.expect("reset")
        assert (reset["group_id"], reset["latest_seq"]) == (group, 60)
    finally:
        await stream.close()


async def streams_per_worker(server: Server, workers: int) -> dict[int, int]:
    """Every worker's open sockets and streams (new connections until each worker has answered)."""
    seen: dict[int, int] = {}
    for _ in range(50):
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as fresh:
            stats = (await fresh.get("/api/v1/ws/stats")).json()
        seen[stats["worker_pid"]] = stats["sockets"]
        if len(seen) == workers:
            break
    return seen


async def test_a_slow_reader_is_cut_without_slowing_the_others(
    server: Server, http: httpx.AsyncClient
) -> None:
    ann, slow_user, fast_user = (
        await sign_up(http, "Ann"),
        await sign_up(http, "Slow"),
        await sign_up(http, "Fast"),
    )
    group = await group_with(http, ann, slow_user, fast_user)
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    request = (
        f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {slow_user.token}\r\n\r\n"
    )
    raw.sendall(request.encode())  # and never read again
    fast = await EventStreamClient.open(server.url, fast_user.headers)
    try:
        await fast.expect("subscribed")
        big = "😀" * 9000
        for i in range(200):
            await send(http, ann.headers, group, f"{i} {big}")
        await fast.expect(lambda e: e.get("text", "").startswith("199 "), timeout=60)
        assert fast.sequenced(group)[-200:] == list(range(3, 203))  # 1 and 2: Slow and Fast added

        # Cut at its queue bound (64 events): no worker holds it any more.
        workers = 2 if "cluster" in str(server.log) else 1

        async def only_fast_left() -> None:
            while sum((await streams_per_worker(server, workers)).values()) != 1:
                await asyncio.sleep(0.5)

        await asyncio.wait_for(only_fast_left(), 30)
    finally:
        raw.close()
        await fast.close()


async def test_tickets_are_single_use_and_refusals_are_http_errors(
    server: Server, http: httpx.AsyncClient
) -> None:
    ann = await sign_up(http, "Ann")
    await group_with(http, ann)
    one_time = await ticket(http, ann)
    stream = await EventStreamClient.open(server.url, {}, f"?ticket={one_time}")
    await stream.expect("ready")
    await stream.close()
    again = await EventStreamClient.open(server.url, {}, f"?ticket={one_time}")
    assert again.status == 401
    assert "already been used" in again.body_on_refusal
    for headers, query, status in [
        ({}, "", 401),
        ({"Authorization": "Bearer nope"}, "", 401),
        (ann.headers | {"Origin": "https://evil.example"}, "", 403),
        (ann.headers, "?cursor=1:x", 400),
        (ann.headers | {"Last-Event-ID": "0:5"}, "", 400),
    ]:
        refused = await http.get("/api/v1/events" + query, headers=headers)
        assert refused.status_code == status, (headers, query, refused.text)
        assert refused.json()["status_code"] == status


async def test_shutdown_ends_streams_with_1012_and_takes_no_new_one(tmp_path: Path) -> None:
    """SIGTERM: every stream hears `event: close` 1012; one that reconnects at once, while the worker
    is still finishing, is refused (503) or closed with 1012 too, never left open for Granian to wait
    on (it waits for HTTP responses to end)."""
    with run_server(tmp_path, **LIMITS) as own:
        async with httpx.AsyncClient(base_url=own.url, timeout=10) as http:
            ann = await sign_up(http, "Ann")
            await group_with(http, ann)
        stream = await EventStreamClient.open(own.url, ann.headers)
        await stream.expect("subscribed")
        own.process.send_signal(signal.SIGTERM)
        closing = await stream.expect("close")
        assert closing["code"] == 1012
        await stream.close()
        try:
            again = await EventStreamClient.open(own.url, ann.headers)
        except (httpx.ConnectError, TimeoutError):
            pass  # the worker already stopped listening
        else:
            try:
                if again.status == 200:
                    assert (await again.expect("close"))["code"] == 1012
                else:
                    assert again.status in (None, 503), again.body_on_refusal
            finally:
                await again.close()
        assert await asyncio.to_thread(own.process.wait) == 0
