"""The real server: `huddle run` on the embedded default and on PostgreSQL + Redis with 2 workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.db import migrate
from tests.conftest import SECRET
from tests.helpers import PASSWORD, bearer, unique_email
from tests.process import APP_VARIABLES, run_server
from tests.services import postgres_database, redis_namespace

pytestmark = pytest.mark.slow


def _sign_up(url: str) -> str:
    email = unique_email()
    response = httpx.post(f"{url}/register", json={"email": email, "name": "E2E", "password": PASSWORD})
    assert response.status_code == 200, response.text  # the seed alias answers 200
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


def test_a_second_server_on_a_port_in_use_refuses_to_start(tmp_path: Path) -> None:
    """Granian binds with SO_REUSEPORT: unchecked, a second `huddle run` would start beside the first
    and take half its connections (in the embedded mode, never hearing its messages)."""
    with run_server(tmp_path, BCRYPT_ROUNDS="4") as first:
        env = {k: v for k, v in os.environ.items() if k not in APP_VARIABLES}
        second = subprocess.run(
            [sys.executable, "-m", "app", "run"],
            env=env | {"PORT": str(first.port), "VAR_DIR": str(tmp_path / "second")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1, second.stderr
        assert second.stderr.strip() == (
            f"huddle: cannot serve on 127.0.0.1:{first.port}: "
            "the port is in use; stop the server there, or choose another port (--port or PORT)"
        )
        assert not (tmp_path / "second" / "huddle.db").exists()  # it stopped before doing anything
        assert httpx.get(f"{first.url}/health").status_code == 200


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
