"""Operations against the real server (`huddle run`, 2 Granian workers, PostgreSQL + Redis):
/metrics sums every worker, access logs are JSON and never show the seed's `?token=`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from app.db import migrate
from tests.conftest import SECRET
from tests.helpers import PASSWORD, bearer, unique_email
from tests.process import run_server
from tests.services import postgres_database, redis_namespace

pytestmark = pytest.mark.slow
METRICS_TOKEN = "e2e-metrics-token-0123456789"


def _series(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    response = httpx.get(f"{url}/metrics", headers=bearer(METRICS_TOKEN))
    assert response.status_code == 200, response.text
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name
    }


def _health_count(url: str) -> float:
    key = (("method", "GET"), ("route", "/health"), ("status", "200"))
    return _series(url, "huddle_http_requests_total").get(key, 0.0)


def _open_sockets(url: str) -> float:
    return _series(url, "huddle_ws_connections").get((), 0.0)


def _json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_metrics_and_logs_across_two_workers(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    with postgres_database() as url, redis_namespace() as (redis_url, prefix):
        migrate.upgrade(url)
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "SECRET_KEY": SECRET,
            "WORKERS": "2",
            "BCRYPT_ROUNDS": "4",
            "METRICS_TOKEN": METRICS_TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        with run_server(tmp_path, **env) as server:
            base = _health_count(server.url)
            for _ in range(40):  # fresh connections: both workers serve some
                assert httpx.get(f"{server.url}/health").status_code == 200
            assert _health_count(server.url) == base + 40
            workers = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}
            assert len(workers) == 2, "both workers recorded requests"

            email = unique_email()
            signed_up = httpx.post(
                f"{server.url}/register", json={"email": email, "name": "Ops", "password": PASSWORD}
            ).json()
            token = signed_up["access_token"]
            group = httpx.post(f"{server.url}/groups", json={"name": "ops"}, headers=bearer(token)).json()
            socket_url = (
                server.url.replace("http", "ws") + f"/ws/group/{group['id']}?token={token}&events=all"
            )
            with connect(socket_url) as socket:
                assert json.loads(socket.recv(timeout=10))["type"] == "ready"
                assert _open_sockets(server.url) == 1
            assert _open_sockets(server.url) == 0
            assert httpx.get(f"{server.url}/metrics").status_code == 401
        assert server.process.returncode == 0, server.output()

    output = server.output()
    assert token not in output
    lines = _json_lines(output)
    assert any(line.get("logger") == "_granian" for line in lines)  # the server's own lines too
    [socket_line] = [line for line in lines if line.get("event") == "websocket"]
    assert socket_line["route"] == "/ws/group/{group_id}"
    assert socket_line["query"] == "token=[redacted]&events=all"
    assert socket_line["status"] == 101
    created = [line for line in lines if line.get("event") == "request" and line.get("path") == "/groups"]
    assert created[0]["user_id"] == signed_up["user"]["id"]
