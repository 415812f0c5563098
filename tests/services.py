"""Real backing services for tests: a fresh PostgreSQL database and a unique Redis key prefix per run.

A missing service skips its tests with the reason; with HUDDLE_REQUIRE_SERVICES=1 (set by CI) it fails
them instead, so CI always exercises the real components.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest
import redis

from tests.process import free_port

REQUIRE = os.environ.get("HUDDLE_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:10]


def unavailable(reason: str) -> NoReturn:
    if REQUIRE:
        pytest.fail(f"required service unavailable (HUDDLE_REQUIRE_SERVICES=1): {reason}", pytrace=False)
    pytest.skip(reason)


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def postgres_database(name: str | None = None) -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it afterwards."""
    name = name or f"huddle_test_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        unavailable(f"PostgreSQL at {ADMIN_URL} is not usable: {error}")
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def redis_namespace() -> Iterator[tuple[str, str]]:
    """Yield (url, key prefix) and delete every key under the prefix afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {REDIS_URL} is not usable: {error}")
    prefix = f"huddle-test:{RUN_ID}:"
    try:
        yield REDIS_URL, prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@contextmanager
def private_redis(tmp_path: Path, port: int | None = None) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A redis-server of our own, so the test may stop it without touching the shared one."""
    port = port or free_port()
    try:
        process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        unavailable("redis-server is not installed")
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield process, port
    finally:
        process.kill()
        process.wait()
