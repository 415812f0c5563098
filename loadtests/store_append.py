"""Append and read throughput through the message-store port, PostgreSQL beside the MongoDB store on
SecantusDB (tests/secantus.py, started here on a free port with a temporary folder), by hand:

    uv run --frozen python -m loadtests.store_append

Needs PostgreSQL on loopback (TEST_DATABASE_URL, as the tests). It measures the adapters, not the
servers' limits: SecantusDB is a test server, and its numbers say nothing about mongod's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from app.config import Settings
from app.db import migrate
from app.db.models.groups import Group
from app.domain.messages.store import Draft, MessageStore
from app.server.runtime import build_runtime
from tests.secantus import Secantus
from tests.services import postgres_database

SINGLE = 500  # appends one after the other, one message each
BATCHES = 50  # batches of BATCH, as the group commit writes a busy group
BATCH = 20
GROUPS = 7  # groups written in parallel, 100 messages each
RACERS = 8  # concurrent single appends to one group, 25 each: seq contention
READS = 100  # window(limit=50) reads


def draft(group_id: int, i: int) -> Draft:
    text = f"message number {i} hello world"
    return Draft(
        group_id=group_id, type="message", user="a@example.com", text=text, created_at=dt.datetime.now(dt.UTC)
    )


async def rate(count: int, work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return count / (time.perf_counter() - started)


async def measure(store: MessageStore, groups: list[int]) -> dict[str, float]:
    async def single() -> None:
        for i in range(SINGLE):
            await store.append([draft(groups[0], i)])

    async def batched() -> None:
        for b in range(BATCHES):
            await store.append([draft(groups[1], b * BATCH + k) for k in range(BATCH)])

    async def sender(group_id: int, count: int, offset: int = 0) -> None:
        for i in range(count):
            await store.append([draft(group_id, offset + i)])

    async def parallel() -> None:
        await asyncio.gather(*(sender(g, 100) for g in groups[2 : 2 + GROUPS]))

    async def racing() -> None:
        await asyncio.gather(*(sender(groups[0], 25, 10_000 + 100 * k) for k in range(RACERS)))

    async def reads() -> None:
        for _ in range(READS):
            await store.window(groups[0], limit=50)

    return {
        "single appends, msg/s": await rate(SINGLE, single),
        f"batches of {BATCH}, msg/s": await rate(BATCHES * BATCH, batched),
        f"{GROUPS} groups in parallel, msg/s": await rate(GROUPS * 100, parallel),
        f"{RACERS} racers on one group, msg/s": await rate(RACERS * 25, racing),
        "window(50), reads/s": await rate(READS, reads),
    }


async def run(settings: Settings) -> dict[str, float]:
    runtime = build_runtime(settings)
    try:
        await runtime.messages.prepare()
        async with runtime.sessions() as db:
            rows = [Group(name=f"bench-{i}") for i in range(2 + GROUPS)]
            db.add_all(rows)
            await db.commit()
            groups = [row.id for row in rows]
        return await measure(runtime.messages, groups)
    finally:
        await runtime.close()


def compare() -> dict[str, dict[str, float]]:
    """Each adapter's numbers: PostgreSQL's SQL store, then the MongoDB store on SecantusDB."""
    with tempfile.TemporaryDirectory() as folder, postgres_database() as database_url:
        migrate.upgrade(database_url)
        base = Settings(
            secret_key="bench-" * 8,
            var_dir=Path(folder) / "var",
            media_dir=Path(folder) / "media",
            transcode_concurrency=0,
            database_url=database_url,
        )
        server = Secantus(Path(folder) / "secantus")
        server.start()
        try:
            mongo = msgspec.structs.replace(
                base, mongodb_url=server.url, database_name=f"bench_{uuid.uuid4().hex[:6]}"
            )
            results = {
                "PostgreSQL (SQL store)": asyncio.run(run(base)),
                "MongoDB store on SecantusDB": asyncio.run(run(mongo)),
            }
        finally:
            server.stop()
    return results


def main() -> None:
    results = compare()
    names = list(next(iter(results.values())))
    print("| store | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for store, numbers in results.items():
        print(f"| {store} | " + " | ".join(f"{numbers[name]:,.0f}" for name in names) + " |")


if __name__ == "__main__":
    main()
