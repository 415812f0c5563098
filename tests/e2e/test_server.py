"""The real server: `huddle run` on the embedded default and on PostgreSQL + Redis with 2 workers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.db import migrate
from tests.conftest import SECRET
from tests.helpers import PASSWORD, bearer, unique_email
from tests.process import run_server
from tests.services import postgres_database, redis_namespace

pytestmark = pytest.mark.slow


def _sign_up(url: str) -> str:
    email = unique_email()
    response = httpx.post(f"{url}/register", json={"email": email, "name": "E2E", "password": PASSWORD})
    assert response.status_code == 201, response.text
    token = httpx.post(f"{url}/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200
    return str(token.json()["access_token"])


def test_embedded_default_serves_and_keeps_tokens_across_restarts(tmp_path: Path) -> None:
    with run_server(tmp_path, BCRYPT_ROUNDS="4") as server:
        assert httpx.get(f"{server.url}/health/db").json()["database"] == "connected"
        token = _sign_up(server.url)
    assert server.process.returncode == 0, server.output()
    assert (tmp_path / "var" / "huddle.db").exists()
    assert (tmp_path / "var" / "secret_key").exists()
    with run_server(tmp_path, BCRYPT_ROUNDS="4") as again:
        me = httpx.get(f"{again.url}/users/me", headers=bearer(token))
        assert me.status_code == 200


def test_two_workers_on_postgres_and_redis(tmp_path: Path) -> None:
    with postgres_database() as url, redis_namespace() as (redis_url, prefix):
        migrate.upgrade(url)
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "SECRET_KEY": SECRET,
            "WORKERS": "2",
            "BCRYPT_ROUNDS": "4",
        }
        with run_server(tmp_path, **env) as server:
            ready = httpx.get(f"{server.url}/health/db").json()
            assert (ready["database"], ready["redis"]) == ("connected", "connected")
            token = _sign_up(server.url)
            # Many requests on fresh connections land on both workers; every one accepts the token.
            statuses = {
                httpx.get(f"{server.url}/verify-token", headers=bearer(token)).status_code for _ in range(20)
            }
            assert statuses == {200}
            assert httpx.post(f"{server.url}/api/v1/auth/logout", headers=bearer(token)).status_code == 204
            revoked = {
                httpx.get(f"{server.url}/users/me", headers=bearer(token)).status_code for _ in range(10)
            }
            assert revoked == {401}
        assert server.process.returncode == 0, server.output()
        assert "Spawning worker-2" in server.output()
