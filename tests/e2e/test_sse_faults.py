"""Server-Sent Events across faults, on real Granian workers with PostgreSQL and Redis: a worker
SIGKILLed mid-stream and Redis restarted mid-stream. Each reader is a browser's EventSource in
miniature: whenever its stream ends it reconnects with the last `id:` it read as Last-Event-ID, and
it ends with exactly the committed messages, in order, once. Redis is a private redis-server (the
shared one is never stopped)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.db import migrate
from tests.e2e.test_gateway_cluster import (
    ResumingReader,
    cluster_env,
    send_with_retries,
    start_all,
)
from tests.process import Server, run_server
from tests.services import postgres_database, private_redis, redis_namespace
from tests.wsclient import SEQUENCED, User, group_with, sign_up

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database() as url:
        migrate.upgrade(url)
        yield url


class ResumingStream(ResumingReader):
    """Follows one group over `GET /api/v1/events` and resumes by Last-Event-ID after any end: a
    refusal, the connection dropped, or the server's `event: close` (the socket reader's `start`,
    `wait_for` and `stop`)."""

    def __init__(self, server: Server, user: User, group_id: int) -> None:
        super().__init__(server, user, group_id)
        self.last_id: str | None = None
        self.closes: list[int] = []  # the codes of the server's `event: close`
        self._connection: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self._connection = asyncio.get_running_loop().create_task(self._connect())
            try:
                await asyncio.wait({self._connection})  # ends with the stream, or cut()
            finally:
                self._connection.cancel()
            self.reconnects += 1
            await asyncio.sleep(0.1)

    async def _connect(self) -> None:
        headers = self.user.headers | ({"Last-Event-ID": self.last_id} if self.last_id else {})
        # A client per connection, as a browser tab after a reconnect: any worker may take it.
        async with httpx.AsyncClient(base_url=self.server.url, timeout=httpx.Timeout(5, read=None)) as http:
            try:
                async with http.stream("GET", "/api/v1/events", headers=headers) as response:
                    if response.status_code == 200:
                        self.connected.set()
                        await self._read(response)
            except httpx.HTTPError:
                pass

    def cut(self) -> None:
        """The client's connection drops (a network blip): it reconnects with its cursor."""
        if self._connection is not None:
            self._connection.cancel()

    async def _read(self, response: httpx.Response) -> None:
        name, data = "message", []
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    name = value
                elif field == "data":
                    data.append(value)
                elif field == "id":
                    self.last_id = value  # as EventSource: kept even by a block without data
                continue
            if data:  # a blank line ends the event
                self._event(name, json.loads("\n".join(data)))
            name, data = "message", []

    def _event(self, name: str, frame: dict[str, object]) -> None:
        if name == "close":
            self.closes.append(int(str(frame["code"])))
        elif frame.get("type") in SEQUENCED and frame.get("group_id") == self.group_id:
            self.seqs.append(int(str(frame["seq"])))
            self.texts.append(str(frame.get("text", "")))


async def committed(http: httpx.AsyncClient, user: User, group_id: int) -> list[tuple[int, str]]:
    """(seq, text) of every message the group's history holds, oldest first."""
    items: list[tuple[int, str]] = []
    after = 0
    while True:
        page = await http.get(
            f"/api/v1/groups/{group_id}/messages",
            params={"after_seq": after, "limit": 100},
            headers=user.headers,
        )
        assert page.status_code == 200, page.text
        batch = [(int(m["seq"]), str(m.get("text", ""))) for m in page.json()["items"]]
        if not batch:
            return items
        items.extend(batch)
        after = batch[-1][0]


def assert_exactly_the_committed(reader: ResumingStream, history: list[tuple[int, str]]) -> None:
    """Every committed message from the reader's first, once each, in order, with its text."""
    start = next(index for index, (seq, _) in enumerate(history) if seq == reader.seqs[0])
    assert list(zip(reader.seqs, reader.texts, strict=True)) == history[start:]


async def stream_spread(http: httpx.AsyncClient) -> dict[int, int]:
    """Open sockets and streams per worker pid (fresh connections until both workers answered)."""
    seen: dict[int, int] = {}
    for _ in range(40):
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=5) as fresh:
            stats = (await fresh.get("/api/v1/ws/stats")).json()
        seen[stats["worker_pid"]] = stats["sockets"]
        if len(seen) == 2:
            break
    return seen


async def test_a_worker_sigkilled_mid_stream_loses_and_repeats_nothing(database: str, tmp_path: Path) -> None:
    with (
        redis_namespace() as (redis_url, prefix),
        run_server(tmp_path, **cluster_env(database, redis_url, prefix)) as server,
    ):
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            ann = await sign_up(http, "Ann")
            users = [await sign_up(http, f"R{i}") for i in range(6)]
            group = await group_with(http, ann, *users)  # seqs 1..6: the add notices
            readers = [ResumingStream(server, user, group) for user in users]
            try:
                await start_all(readers)
                await asyncio.gather(*(r.wait_for(6) for r in readers))
                spread = await stream_spread(http)
                victim = max(spread, key=lambda pid: spread[pid])  # the worker holding the most streams
                assert spread[victim] > 0, spread
                last = 0
                for i in range(120):
                    if i == 40:
                        os.kill(victim, signal.SIGKILL)
                    last = max(last, await send_with_retries(http, ann, group, f"storm-{i}"))
                history = await committed(http, ann, group)
                assert [text for _, text in history if text.startswith("storm-")] == [
                    f"storm-{i}" for i in range(120)
                ]
                for reader in readers:
                    await reader.wait_for(last)
                    assert_exactly_the_committed(reader, history)
                # Someone really was on the killed worker, and came back by cursor, not from the start.
                resumed = [r for r in readers if r.reconnects]
                assert resumed, spread
                assert all(r.seqs[0] == 1 for r in resumed)
            finally:
                for reader in readers:
                    await reader.stop()


async def test_a_redis_restart_mid_stream_loses_and_repeats_nothing(database: str, tmp_path: Path) -> None:
    with private_redis(tmp_path) as (redis_process, port):
        redis_url = f"redis://127.0.0.1:{port}/0"
        with run_server(tmp_path, **cluster_env(database, redis_url, "huddle-sse-fault:")) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                ann = await sign_up(http, "Ann")
                users = [await sign_up(http, f"R{i}") for i in range(4)]
                group = await group_with(http, ann, *users)
                readers = [ResumingStream(server, user, group) for user in users]
                for reader in readers:
                    reader.start()
                try:
                    await asyncio.gather(*(r.wait_for(4) for r in readers))
                    last = await send_with_retries(http, ann, group, "before")

                    redis_process.terminate()
                    redis_process.wait()
                    # Half the readers lose their connection meanwhile: they come back by cursor.
                    cut = readers[:2]
                    for reader in cut:
                        reader.cut()
                    during = [await send_with_retries(http, ann, group, f"while down {i}") for i in range(5)]
                    assert during == list(range(last + 1, last + 6))  # PostgreSQL holds them
                    with private_redis(tmp_path, port):
                        for i in range(5):
                            last = await send_with_retries(http, ann, group, f"after restart {i}")
                        history = await committed(http, ann, group)
                        for reader in readers:
                            await reader.wait_for(last)
                            assert_exactly_the_committed(reader, history)
                            assert reader.seqs[0] == 1
                        assert all(reader.reconnects for reader in cut)
                finally:
                    for reader in readers:
                        await reader.stop()
