"""The gateway across real processes: 2 Granian workers, PostgreSQL, and Redis (a private redis-server
per test where the test stops it). Faults: a worker SIGKILLed mid-storm, Redis restarted and frozen,
a client that stops reading."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import redis
import websockets

from app.db import migrate
from app.domain.grants import GRANT_SECONDS
from tests.conftest import SECRET
from tests.integration.media.videos import mp4
from tests.process import Server, run_server
from tests.services import postgres_database, private_redis, redis_namespace
from tests.wsclient import SEQUENCED, User, WSClient, group_with, sign_up

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def cluster_env(database_url: str, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "SECRET_KEY": SECRET,
        "WORKERS": "2",
        "BCRYPT_ROUNDS": "4",
        "LOGIN_RATE_LIMIT": "100000",
        "WS_FRAMES_PER_SECOND": "1000",
    } | extra


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database() as url:
        migrate.upgrade(url)
        yield url


def worker_pids(server: Server) -> list[int]:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    return [int(pid) for pid in children]


async def socket_spread(http: httpx.AsyncClient, user: User) -> dict[int, int]:
    """Sockets per worker pid, sampled over fresh connections (each lands on some worker)."""
    seen: dict[int, int] = {}
    for _ in range(40):
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=5) as fresh:
            stats = (await fresh.get("/api/v1/ws/stats", headers=user.headers)).json()
        seen[stats["worker_pid"]] = stats["sockets"]
        if len(seen) == 2:
            break
    return seen


class ResumingReader:
    """Follows one group like a real client: on any disconnect it reconnects with the last seq it saw."""

    def __init__(self, server: Server, user: User, group_id: int) -> None:
        self.server, self.user, self.group_id = server, user, group_id
        self.seqs: list[int] = []
        self.texts: list[str] = []
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            last = self.seqs[-1] if self.seqs else 0
            url = self.server.ws_url(f"/ws/group/{self.group_id}?token={self.user.token}&last_seq={last}")
            try:
                async with websockets.connect(url, open_timeout=5) as connection:
                    self.connected.set()
                    async for raw in connection:
                        frame = json.loads(raw)
                        if frame.get("type") in SEQUENCED and frame.get("group_id") == self.group_id:
                            self.seqs.append(frame["seq"])
                            self.texts.append(frame.get("text", ""))
            except (OSError, websockets.WebSocketException, TimeoutError):
                pass
            self.reconnects += 1
            await asyncio.sleep(0.1)

    async def wait_for(self, seq: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.seqs or self.seqs[-1] < seq:
            if time.monotonic() > deadline:
                raise AssertionError(f"reader stuck at {self.seqs[-3:]} waiting for {seq}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def send_with_retries(http: httpx.AsyncClient, user: User, group_id: int, text: str) -> int:
    """Send until the server answers: the same client_msg_id makes retries idempotent."""
    for _ in range(100):
        try:
            response = await http.post(
                f"/api/v1/groups/{group_id}/messages",
                json={"text": text, "client_msg_id": text.replace(" ", "-")},
                headers=user.headers,
            )
            if response.status_code in (200, 201):
                return int(response.json()["seq"])
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"could not send {text}")


async def start_all(readers: Sequence[ResumingReader], timeout: float = 10) -> None:
    """Start the readers (socket or event-stream ones) and wait until every one is connected."""
    for reader in readers:
        reader.start()
    await asyncio.wait_for(asyncio.gather(*(reader.connected.wait() for reader in readers)), timeout)


def assert_exactly_once_in_order(reader: ResumingReader, last_seq: int) -> None:
    assert reader.seqs == list(range(reader.seqs[0], last_seq + 1)), reader.seqs


@pytest.fixture
async def cluster(database: str, tmp_path: Path) -> AsyncIterator[tuple[Server, httpx.AsyncClient]]:
    with (
        redis_namespace() as (redis_url, prefix),
        run_server(tmp_path, **cluster_env(database, redis_url, prefix)) as server,
    ):
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            yield server, http


async def test_messages_cross_workers(cluster: tuple[Server, httpx.AsyncClient]) -> None:
    server, http = cluster
    ann = await sign_up(http, "Ann")
    members = [await sign_up(http, f"M{i}") for i in range(8)]
    group = await group_with(http, ann, *members)
    clients = []
    for member in members:
        client = await WSClient.connect(server.ws_url(f"/ws/group/{group}?token={member.token}&events=all"))
        await client.expect("subscribed")
        clients.append(client)
    try:
        spread = await socket_spread(http, ann)
        assert len(spread) == 2, f"sockets did not land on both workers: {spread}"
        assert sum(spread.values()) == len(members)
        sender = await WSClient.connect(server.ws_url(f"/ws/group/{group}?token={ann.token}&events=all"))
        await sender.expect("subscribed")
        await sender.send({"type": "message", "text": "to every worker"})
        for client in clients:
            assert (await client.expect(lambda f: f.get("text") == "to every worker"))["user"] == ann.email
        await sender.close()
    finally:
        for client in clients:
            await client.close()


async def test_sigkill_a_worker_mid_storm_loses_nothing(cluster: tuple[Server, httpx.AsyncClient]) -> None:
    server, http = cluster
    ann = await sign_up(http, "Ann")
    readers_users = [await sign_up(http, f"R{i}") for i in range(6)]
    group = await group_with(http, ann, *readers_users)  # seqs 1..6 are the add notices
    readers = [ResumingReader(server, user, group) for user in readers_users]
    await start_all(readers)
    # Kill a worker that holds readers: the kernel may well have put every socket on one worker.
    spread = await socket_spread(http, ann)
    victim = max(spread, key=lambda pid: spread[pid])
    assert spread[victim] > 0, spread
    last = 0
    for i in range(120):
        if i == 40:
            os.kill(victim, signal.SIGKILL)
        last = max(last, await send_with_retries(http, ann, group, f"storm-{i}"))
    try:
        for reader in readers:
            await reader.wait_for(last)
            assert_exactly_once_in_order(reader, last)
            assert [t for t in reader.texts if t.startswith("storm-")] == [f"storm-{i}" for i in range(120)]
        assert sum(r.reconnects for r in readers) >= 1  # someone really was on the killed worker
        history = await http.get(f"/messages?group_id={group}&limit=100", headers=ann.headers)
        assert len({m["text"] for m in history.json()}) == 100
    finally:
        for reader in readers:
            await reader.stop()
    await asyncio.sleep(4)  # Granian respawns the killed worker
    assert len(worker_pids(server)) == 2
    assert victim not in worker_pids(server)


async def refused_everywhere_before_grants_expire(
    attempt: Callable[[], Awaitable[int]], refusal: int
) -> None:
    """`attempt` (each on a fresh connection: SO_REUSEPORT spreads them over both workers) answers
    `refusal` 20 times in a row within half a grant's lifetime (app/domain/grants.py)."""
    deadline = time.monotonic() + GRANT_SECONDS / 2  # the grants themselves outlive it
    statuses: list[int] = []
    while time.monotonic() < deadline:
        statuses.append(await attempt())
        if statuses[-20:] == [refusal] * 20:
            break
    assert statuses[-20:] == [refusal] * 20, statuses


async def test_a_removed_member_stops_streaming_on_every_worker(
    cluster: tuple[Server, httpx.AsyncClient],
) -> None:
    """Workers remember stream grants for GRANT_SECONDS; a removal clears them on both workers over
    Redis, so every range after it is refused well before a grant would have expired."""
    _, http = cluster
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    group = await group_with(http, ann, bob)
    uploaded = await http.post(
        f"/api/v1/groups/{group}/videos",
        files={"file": ("clip.mp4", mp4(64 * 1024), "application/octet-stream")},
        headers=ann.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    video = (await http.get(f"/api/v1/videos/{uploaded.json()['id']}", headers=bob.headers)).json()
    ranged = {"range": "bytes=0-1023"}
    # Enough ranges that both workers (SO_REUSEPORT spreads connections) remember Bob's grant.
    for _ in range(20):
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=10) as fresh:
            assert (await fresh.get(video["stream_url"], headers=ranged)).status_code == 206
    removed = await http.delete(f"/api/v1/groups/{group}/members/{bob.user_id}", headers=ann.headers)
    assert removed.status_code == 204, removed.text

    async def stream() -> int:
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=10) as fresh:
            return (await fresh.get(video["stream_url"], headers=ranged)).status_code

    await refused_everywhere_before_grants_expire(stream, 403)


async def test_a_removed_member_stops_sending_on_every_worker(
    cluster: tuple[Server, httpx.AsyncClient],
) -> None:
    """Workers remember memberships for GRANT_SECONDS; a removal clears them on both workers over
    Redis, so every send after it is refused well before a membership would have expired."""
    _, http = cluster
    ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
    group = await group_with(http, ann, bob)
    url = f"/api/v1/groups/{group}/messages"

    async def send(text: str) -> int:
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=10) as fresh:
            return (await fresh.post(url, json={"text": text}, headers=bob.headers)).status_code

    # Enough sends that both workers (SO_REUSEPORT spreads connections) remember Bob's membership.
    assert [await send(f"warm {i}") for i in range(20)] == [201] * 20
    removed = await http.delete(f"/api/v1/groups/{group}/members/{bob.user_id}", headers=ann.headers)
    assert removed.status_code == 204, removed.text
    await refused_everywhere_before_grants_expire(lambda: send("still here?"), 404)


async def test_redis_restart_and_freeze_lose_nothing(database: str, tmp_path: Path) -> None:
    with private_redis(tmp_path) as (redis_process, port):
        redis_url = f"redis://127.0.0.1:{port}/0"
        with run_server(tmp_path, **cluster_env(database, redis_url, "huddle-fault:")) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
                group = await group_with(http, ann, bob)
                reader = ResumingReader(server, bob, group)
                reader.start()
                await reader.connected.wait()
                await reader.wait_for(1)
                last = await send_with_retries(http, ann, group, "before")

                redis_process.terminate()
                redis_process.wait()
                during = [await send_with_retries(http, ann, group, f"while down {i}") for i in range(5)]
                assert during == list(range(last + 1, last + 6))  # writes go on: PostgreSQL holds them
                with private_redis(tmp_path, port) as (restarted, _):
                    last = await send_with_retries(http, ann, group, "after restart")
                    await reader.wait_for(last, timeout=30)
                    channel = f"huddle-fault:g:{group}".encode()
                    numsub = redis.Redis(port=port).pubsub_numsub(channel)
                    assert numsub[0][1] >= 1  # subscriptions came back

                    restarted.send_signal(signal.SIGSTOP)  # frozen, not gone: sockets hang
                    try:
                        frozen = [
                            await send_with_retries(http, ann, group, f"while frozen {i}") for i in range(3)
                        ]
                        await asyncio.sleep(3)
                    finally:
                        restarted.send_signal(signal.SIGCONT)
                    last = await send_with_retries(http, ann, group, "thawed")
                    assert frozen[-1] < last
                    await reader.wait_for(last, timeout=30)
                    assert_exactly_once_in_order(reader, last)
                    assert (await http.get("/health/db")).json()["redis"] == "connected"
                await reader.stop()


async def test_slow_consumer_is_cut_off_without_slowing_others(database: str, tmp_path: Path) -> None:
    with (
        redis_namespace() as (redis_url, prefix),
        run_server(
            tmp_path, **cluster_env(database, redis_url, prefix, WS_SEND_QUEUE="16", WORKERS="1")
        ) as server,
    ):
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            ann, slow_user, fast_user = (
                await sign_up(http, "Ann"),
                await sign_up(http, "Slow"),
                await sign_up(http, "Fast"),
            )
            group = await group_with(http, ann, slow_user, fast_user)
            raw = socket.create_connection(("127.0.0.1", server.port))
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            slow = await websockets.connect(
                server.ws_url(f"/ws/group/{group}?token={slow_user.token}"), sock=raw, max_queue=1
            )

            async def read_slowly() -> int | None:
                try:
                    while True:
                        await slow.recv()
                        await asyncio.sleep(0.02)  # 50 frames a second: far behind the senders
                except websockets.ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd else None

            slow_reader = asyncio.get_running_loop().create_task(read_slowly())
            fast = await WSClient.connect(
                server.ws_url(f"/ws/group/{group}?token={fast_user.token}&events=all")
            )
            await fast.expect("subscribed")
            big = "😀" * 9990  # 40 KB of UTF-8 per frame: enough to fill every buffer on the way
            # Sent over HTTP: a sending socket would get its own 400 echoes back, and a test process
            # starved of CPU (the suite runs in two) reads them late enough to be cut as a slow
            # consumer itself, losing the sends behind the cut.
            for i in range(400):
                sent = await http.post(
                    f"/api/v1/groups/{group}/messages", json={"text": f"{i} {big}"}, headers=ann.headers
                )
                assert sent.status_code == 201, sent.text
            await fast.expect(lambda f: f.get("text", "").startswith("399 "), timeout=60)
            assert [f["seq"] for f in fast.frames if f.get("type") == "message"] == list(range(3, 403))
            # 1013 when the close frame can still get through; a socket too congested to take even
            # that is dropped. Either way it is gone, and it never held the others back.
            assert await asyncio.wait_for(slow_reader, 60) in (1013, None)
            stats = (await http.get("/api/v1/ws/stats", headers=ann.headers)).json()
            assert stats["sockets"] == 1  # the fast reader
            await fast.close()
