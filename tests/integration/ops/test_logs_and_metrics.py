"""Access logs (JSON, request and user id, secrets redacted) and the /metrics endpoint in-process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import AppClient
from tests.helpers import bearer, register
from tests.integration.ops.conftest import LogCapture

pytestmark = pytest.mark.anyio
METRICS_TOKEN = "metrics-token-0123456789"


async def test_one_access_line_per_request_with_ids(client: AppClient, logs: LogCapture) -> None:
    account = await register(client)
    response = await client.get(f"/api/v1/users/{account.user['id']}", headers=account.headers)
    assert response.status_code == 200
    [line] = logs.lines(logger="huddle.access", path=f"/api/v1/users/{account.user['id']}")
    assert line["event"] == "request"
    assert line["level"] == "info"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/users/{user_id}"
    assert line["status"] == 200
    assert line["client"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], float)
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["user_id"] == account.user["id"]


async def test_tokens_and_passwords_never_reach_the_logs(client: AppClient, logs: LogCapture) -> None:
    account = await register(client)
    await client.get(f"/verify-token?token={account.access_token}&ticket=t1cket&sig=s1g&limit=5")
    await client.post("/api/v1/auth/login", json={"email": account.email, "password": account.password})
    await client.get("/users/me", headers=account.headers)
    logging.getLogger("huddle.test").warning(
        "a careless line: Bearer %s /ws/group/1?token=%s", account.access_token, account.refresh_token
    )
    text = logs.text
    for secret in (account.access_token, account.refresh_token, account.password, "t1cket", "s1g"):
        assert secret not in text
    [line] = logs.lines(logger="huddle.access", path="/verify-token")
    assert line["query"] == "token=[redacted]&ticket=[redacted]&sig=[redacted]&limit=5"
    careless = logs.lines(logger="huddle.test")[0]["event"]
    assert careless == "a careless line: Bearer [redacted] /ws/group/1?token=[redacted]"


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_failed_statement_is_logged_without_its_values(
    make_client: Callable[..., Any], make_settings: Callable[..., Any], unmigrated: str, logs: LogCapture
) -> None:
    """A statement that fails (here on a database nobody migrated) is logged with its traceback, but
    not with the values it carried: an email, a name, a message's text or a password hash would sit
    in the error log (SQLAlchemy puts a statement's parameters into its exception's text)."""
    client = await make_client(make_settings(database_url=unmigrated))
    email = "private.person@example.com"
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "name": "Someone", "password": "correct horse battery"}
    )
    assert response.status_code == 500
    [line] = logs.lines(logger="huddle.errors")
    assert "UndefinedTable" in line["exception"]  # the statement's failure is there...
    assert email not in logs.text  # ...the value it looked up is not


async def test_unmatched_and_failed_requests_are_logged(client: AppClient, logs: LogCapture) -> None:
    await client.get("/no/such/page")
    [line] = logs.lines(logger="huddle.access", path="/no/such/page")
    assert (line["route"], line["status"]) == ("<unmatched>", 404)


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def test_metrics_use_route_templates(client: AppClient) -> None:
    account = await register(client)
    for user_id in (account.user["id"], 987654):
        await client.get(f"/api/v1/users/{user_id}", headers=account.headers)
    response = await client.get("/metrics")  # the test transport's peer is loopback
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    requests = _samples(response.text, "huddle_http_requests_total")
    route = "/api/v1/users/{user_id}"
    assert requests[(("method", "GET"), ("route", route), ("status", "200"))] >= 1
    assert requests[(("method", "GET"), ("route", route), ("status", "404"))] >= 1
    assert not any("987654" in value for labels in requests for _, value in labels)
    assert _samples(response.text, "huddle_http_request_duration_seconds_count")
    for name in (
        "huddle_ws_connections",
        "huddle_ws_frames_received_total",
        "huddle_ws_frames_sent_total",
        "huddle_ws_fanout_delay_seconds_count",
        "huddle_ws_slow_consumer_disconnects_total",
        "huddle_broker_reconnects_total",
        "huddle_upload_bytes_total",
        "huddle_stream_bytes_total",
    ):
        assert name in response.text


async def test_metrics_are_loopback_only_without_a_token(client: AppClient) -> None:
    # Through a proxy on the same host, the request is someone else's: refused.
    response = await client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
    assert response.status_code == 403


async def test_metrics_token(make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(make_settings(metrics_token=METRICS_TOKEN))
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=bearer("wrong-token-0123456789"))).status_code == 403
    response = await client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert response.status_code == 200
    assert "huddle_http_requests_total" in response.text
