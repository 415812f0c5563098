"""Health routes report each dependency; the OpenAPI schema is complete enough to generate an SDK."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis
from sqlalchemy import make_url

from app.config import Settings
from app.ws.fanout import CloseCode
from tests.conftest import WITH_REDIS_CLUSTER, AppClient
from tests.helpers import Account, eventually, register
from tests.services import ADMIN_URL, RUN_ID, private_redis
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_liveness(client: AppClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"


@WITH_REDIS_CLUSTER
async def test_readiness_reports_connected_dependencies(client: AppClient, backend: str) -> None:
    response = await client.get("/health/db")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "connected"
    assert body["redis"] == ("not_configured" if backend == "sqlite" else "connected")
    assert body["down"] == []


@pytest.mark.parametrize("backend", ["postgres"])
async def test_readiness_names_what_is_down(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    port = _closed_port()
    client: AppClient = await make_client(
        make_settings(
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/nothing",
            redis_url=f"redis://127.0.0.1:{port}/0",
        )
    )
    response = await client.get("/health/db")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["database", "redis"]
    assert (body["database"], body["redis"]) == ("unavailable", "unavailable")
    # and a request needing the database fails fast with a 503, not a hang or a 500
    login = await client.post("/api/v1/auth/login", json={"email": "a@b.co", "password": "whatever-it-is"})
    assert login.status_code == 503
    assert login.json()["code"] == "service_unavailable"


async def _sign_in(client: AppClient, member: Account) -> httpx.Response:
    """A sign-in needs Redis (its attempts are counted there) and PostgreSQL (the user, a new session)."""
    return await client.post("/api/v1/auth/login", json={"email": member.email, "password": member.password})


async def _socket_close_code(client: AppClient, member: Account) -> int:
    """What a `/ws` socket of the member is closed with; the handshake must have completed."""
    async with AsgiWebSocket(
        client.app, "/ws", subprotocols=["huddle.v2", f"bearer.{member.access_token}"]
    ) as ws:
        return await ws.close_code()


@pytest.fixture
async def refusing_role() -> AsyncIterator[str]:
    """A PostgreSQL role at its connection limit (0): the server refuses it with SQLSTATE 53300, as it
    refuses everyone once `max_connections` is reached."""
    role = f"huddle_full_{RUN_ID}"
    admin = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
        yield role
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_database_out_of_connections_is_a_503_and_a_1013(
    make_client: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    postgres_url: str,
    refusing_role: str,
) -> None:
    """A database out of connections says "not now", as one that refuses connections does: a request
    is answered 503 and a socket closes with 1013 (reconnect shortly), where they were a 500 and a
    refused handshake (a 403 under Granian)."""
    member = await register(await make_client(make_settings()))
    full = make_settings(
        database_url=make_url(postgres_url).set(username=refusing_role).render_as_string(hide_password=False)
    )
    client: AppClient = await make_client(full)

    login = await _sign_in(client, member)
    assert login.status_code == 503, login.text
    assert login.json()["code"] == "service_unavailable"
    assert (await client.get("/api/v1/users/me", headers=member.headers)).status_code == 503

    assert await _socket_close_code(client, member) == CloseCode.TRY_AGAIN_LATER


@pytest.mark.parametrize("backend", ["postgres"])
@pytest.mark.usefixtures("postgres_url")  # set up before the test's event loop runs
async def test_a_read_only_database_is_a_503(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings], own_database: str
) -> None:
    """A database that takes no writes for now (a standby reached after a failover, or one put
    read-only for maintenance: SQLSTATE 25006) is an outage too: a sign-in, which writes its session,
    is answered 503, not 500."""
    member = await register(await make_client(make_settings(database_url=own_database)))
    admin = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        name = make_url(own_database).database
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    finally:
        await admin.close()
    client: AppClient = await make_client(make_settings(database_url=own_database))  # a fresh pool

    login = await _sign_in(client, member)
    assert login.status_code == 503, login.text
    assert login.json()["code"] == "service_unavailable"


@pytest.mark.parametrize("backend", ["postgres"])
@pytest.mark.parametrize("timeout", ["statement_timeout", "lock_timeout"])
@pytest.mark.usefixtures("postgres_url")  # set up before the test's event loop runs
async def test_a_statement_the_database_gives_up_on_is_a_503(
    make_client: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    own_database: str,
    timeout: str,
) -> None:
    """A migration or a long transaction holds a lock, and the database's own timeout gives up on a
    statement waiting for it (statement_timeout: 57014, lock_timeout: 55P03): a 503, as when the app's
    own command timeout fires, not a 500."""
    member = await register(await make_client(make_settings(database_url=own_database)))
    name = make_url(own_database).database
    holder = await asyncpg.connect(f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}", timeout=5)
    try:
        await holder.execute(f"ALTER DATABASE \"{name}\" SET {timeout} = '200ms'")  # new sessions
        client: AppClient = await make_client(make_settings(database_url=own_database))
        async with holder.transaction():
            await holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            login = await _sign_in(client, member)
    finally:
        await holder.close()
    assert login.status_code == 503, login.text
    assert login.json()["code"] == "service_unavailable"


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_socket_whose_set_up_fails_unexpectedly_closes_with_1011(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings], unmigrated: str
) -> None:
    """A fault of ours or the operator's (here a database nobody migrated) is a 500 for a request; a
    socket completes its handshake and closes with 1011 (reconnect later), where it was closed before
    the handshake, which Granian answers as a 403: a client would read "forbidden"."""
    member = await register(await make_client(make_settings()))
    client: AppClient = await make_client(make_settings(database_url=unmigrated))
    me = await client.get("/api/v1/users/me", headers=member.headers)
    assert me.status_code == 500
    assert await _socket_close_code(client, member) == CloseCode.INTERNAL


@pytest.mark.parametrize("backend", ["postgres"])
@pytest.mark.parametrize("refusal", ["out of memory", "read-only replica"])
@pytest.mark.usefixtures("postgres_url", "redis_env")  # set up before the test's event loop runs
async def test_a_redis_that_refuses_writes_is_a_503(
    make_client: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    refusal: str,
) -> None:
    """Redis at `maxmemory` (OOM) or demoted to a replica in a failover (READONLY) is up but takes no
    writes for now: a sign-in, which counts its attempts in Redis, is answered 503 as when Redis is
    unreachable, not 500."""
    with (
        private_redis(tmp_path) as (_, port),
        private_redis(tmp_path) as (_, primary),
        contextlib.closing(redis.Redis(port=port)) as admin,
    ):
        member = await register(await make_client(make_settings()))
        client: AppClient = await make_client(make_settings(redis_url=f"redis://127.0.0.1:{port}/0"))
        if refusal == "out of memory":
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", 1)
        else:
            admin.replicaof("127.0.0.1", primary)
            await eventually(lambda: admin.info("replication")["master_link_status"] == "up")

        login = await _sign_in(client, member)
        assert login.status_code == 503, login.text
        assert login.json()["code"] == "service_unavailable"
        assert "retry-after" in login.headers


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_openapi_schema_is_complete(client: AppClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert "ErrorBody" in schema["components"]["schemas"]
    operation_ids = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            operation_ids.append(operation["operationId"])
            assert operation.get("tags"), f"{method} {path} has no tag"
            needs_auth = "security" in operation
            if path.startswith(("/api/v1/users", "/users/me", "/verify-token")) or path in {
                "/api/v1/auth/logout",
                "/api/v1/auth/ws-ticket",
                "/api/v1/auth/verify",
            }:
                assert needs_auth, f"{method} {path} does not declare bearer security"
    assert len(operation_ids) == len(set(operation_ids))
    for path in ["/register", "/login", "/token", "/verify-token", "/users/me", "/health", "/health/db"]:
        assert path in schema["paths"], path
