"""Health routes report each dependency; the OpenAPI schema is complete enough to generate an SDK."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from app.config import Settings
from tests.conftest import WITH_REDIS_CLUSTER, AppClient

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
