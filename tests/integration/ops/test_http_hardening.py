"""Security headers on every route, body limits (413), rate limits (429), trusted proxies, CORS."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar.routes import HTTPRoute

from app.domain.accounts.controllers import AUTH_BODY_LIMIT
from app.server.app import DEFAULT_BODY_LIMIT
from app.server.security import CSP, DOCS_CSP, encoded_headers, security_headers
from tests.conftest import AppClient
from tests.helpers import PASSWORD, register, unique_email

pytestmark = pytest.mark.anyio

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
_PARAM = re.compile(r"\{(\w+):(\w+)\}")
_SAMPLE = {"int": "1", "str": "x", "path": "x", "uuid": str(uuid.UUID(int=1))}


def _concrete(path: str) -> str:
    return _PARAM.sub(lambda m: _SAMPLE.get(m.group(2), "x"), path)


def _assert_hardened(response: Any, csp: str = CSP) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (response.request.url, name)
    assert response.headers.get("content-security-policy") == csp, response.request.url


async def test_every_route_has_the_security_headers(client: AppClient) -> None:
    checked = 0
    for route in client.app.routes:
        if not isinstance(route, HTTPRoute):
            continue  # WebSocket handshakes carry no page
        for method in sorted(route.methods):
            response = await client.request(method, _concrete(route.path))
            csp = DOCS_CSP if route.path.startswith("/schema") else CSP
            _assert_hardened(response, csp)
            checked += 1
    assert checked > 40
    _assert_hardened(await client.get("/no/such/route"))  # 404 from the router
    _assert_hardened(await client.put("/health"))  # 405


def test_csp_has_the_required_directives() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CSP.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self'"  # covers same-origin ws:/wss: (CSP3)


def test_a_route_specific_header_is_kept() -> None:
    message: Any = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-security-policy", b"sandbox")],
    }
    security_headers(message, encoded_headers(CSP))
    headers = dict(message["headers"])
    assert headers[b"content-security-policy"] == b"sandbox"
    assert headers[b"x-content-type-options"] == b"nosniff"


async def test_request_id_is_honoured_or_generated(client: AppClient) -> None:
    given = await client.get("/health", headers={"X-Request-ID": "lb-7f3a.42"})
    assert given.headers["x-request-id"] == "lb-7f3a.42"
    forged = await client.get("/health", headers={"X-Request-ID": "evil\tid with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["x-request-id"])
    fresh = await client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])


# -- body limits -------------------------------------------------------------------------------------


async def _chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 65536):
        yield b"x" * 65536


async def test_oversized_json_body_is_413(client: AppClient) -> None:
    account = await register(client)
    response = await client.post(
        "/api/v1/groups",
        content=b'{"name": "' + b"x" * DEFAULT_BODY_LIMIT + b'"}',
        headers=account.headers | {"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_sign_in_routes_have_a_small_limit(client: AppClient, declared: bool) -> None:
    size = AUTH_BODY_LIMIT * 4
    body: Any = b"x" * size if declared else _chunks(size)
    response = await client.post(
        "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    _assert_hardened(response)


# -- rate limits and client addresses --------------------------------------------------------------


async def test_login_attempts_are_429_with_retry_after(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    client = await make_client(make_settings(login_rate_limit=2))
    email = unique_email()
    statuses = []
    for _ in range(3):
        response = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": "wrong-password"}
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["code"] == "rate_limited"


async def _register_from(client: AppClient, forwarded_for: str) -> int:
    response = await client.post(
        "/register",
        json={"email": unique_email(), "name": "N", "password": PASSWORD},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return response.status_code


async def test_forwarded_for_is_the_client_behind_a_trusted_proxy(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    # The test transport's peer is 127.0.0.1: the load balancer.
    client = await make_client(make_settings(login_rate_limit=2, trusted_proxies=("127.0.0.0/8",)))
    assert [await _register_from(client, "198.51.100.7") for _ in range(3)] == [200, 200, 429]
    assert await _register_from(client, "198.51.100.8") == 200  # another client, its own budget
    # A forged entry left of the real client changes nothing: the proxy appended the real one.
    assert await _register_from(client, "203.0.113.1, 198.51.100.7") == 429


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    client = await make_client(make_settings(login_rate_limit=2, trusted_proxies=("10.0.0.0/8",)))
    assert await _register_from(client, "198.51.100.7") == 200
    assert await _register_from(client, "198.51.100.8") == 200
    assert await _register_from(client, "198.51.100.9") == 429  # all one client: 127.0.0.1


# -- CORS ---------------------------------------------------------------------------------------------


async def _preflight(client: AppClient, origin: str) -> Any:
    return await client.options(
        "/api/v1/auth/login",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )


async def test_no_cross_origin_access_by_default(client: AppClient) -> None:
    response = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allowlist(make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(make_settings(cors_allow_origins=("https://chat.example.com",)))
    allowed = await _preflight(client, "https://chat.example.com")
    assert allowed.headers["access-control-allow-origin"] == "https://chat.example.com"
    refused = await _preflight(client, "https://evil.example")
    assert refused.headers.get("access-control-allow-origin") != "https://evil.example"
    simple = await client.get("/health", headers={"Origin": "https://chat.example.com"})
    assert simple.headers["access-control-allow-origin"] == "https://chat.example.com"
    assert "x-request-id" in simple.headers["access-control-expose-headers"]
