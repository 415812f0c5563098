"""PostgreSQL restarts under a running cluster: requests fail fast with 503 while it is down (never
hang), everything recovers when it is back, and resuming clients miss nothing. Uses a private
PostgreSQL instance (initdb in a temporary folder) so the shared server is never touched."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread
import httpx
import pytest

from app.db import migrate
from tests.e2e.test_gateway_cluster import ResumingReader, assert_exactly_once_in_order, send_with_retries
from tests.process import free_port, run_server
from tests.services import redis_namespace, unavailable
from tests.wsclient import group_with, sign_up

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _pg_bin(name: str) -> str:
    found = sorted(str(path) for path in Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        unavailable(f"PostgreSQL server binaries ({name}) are not installed")
    return found[-1]


def _as_postgres(*command: str) -> None:
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=60)


def _start_command(data: Path, port: int) -> list[str]:
    options = f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1"
    return [
        _pg_bin("pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(data.parent / "pg.log"),
        "-w",
        "start",
    ]


@contextlib.contextmanager
def private_postgres() -> Iterator[tuple[str, Path, int]]:
    # Not under pytest's tmp_path: that folder is private to root, and PostgreSQL runs as postgres.
    with tempfile.TemporaryDirectory(prefix="huddle-pg-") as folder:
        yield from _serve_postgres(Path(folder))


def _serve_postgres(tmp_path: Path) -> Iterator[tuple[str, Path, int]]:
    data = tmp_path / "pgdata"
    data.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres", str(tmp_path)], check=True)
    port = free_port()
    _as_postgres(_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    _as_postgres(*_start_command(data, port))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres", data, port
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _as_postgres(_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop")


async def test_postgres_restart_fails_fast_and_recovers(tmp_path: Path) -> None:
    with private_postgres() as (url, data, port), redis_namespace() as (redis_url, prefix):
        await anyio.to_thread.run_sync(migrate.upgrade, url)
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "WORKERS": "2",
            "SECRET_KEY": "s" * 40,
            "BCRYPT_ROUNDS": "4",
            "LOGIN_RATE_LIMIT": "100000",
        }
        with run_server(tmp_path, **env) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
                ann, bob = await sign_up(http, "Ann"), await sign_up(http, "Bob")
                group = await group_with(http, ann, bob)
                reader = ResumingReader(server, bob, group)
                reader.start()
                await reader.wait_for(1)
                await send_with_retries(http, ann, group, "before")

                _as_postgres(_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop")
                # It must answer (a hang raises httpx's timeout), and answer 503.
                down = await http.get(f"/api/v1/groups/{group}/messages", headers=ann.headers, timeout=10)
                assert down.status_code == 503
                assert down.json()["code"] == "service_unavailable"
                ready = await http.get("/health/db")
                assert (ready.status_code, ready.json()["down"]) == (503, ["database"])

                _as_postgres(*_start_command(data, port))
                last = 0
                for i in range(5):
                    last = await send_with_retries(http, ann, group, f"after-{i}")
                await reader.wait_for(last)
                assert_exactly_once_in_order(reader, last)
                assert (await http.get("/health/db")).status_code == 200
                await reader.stop()
            await asyncio.sleep(0)
