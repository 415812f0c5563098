"""Passwords of any shape never cause a 500; sign-in attempts are rate-limited per email and client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.config import Settings
from tests.conftest import WITH_REDIS_CLUSTER, AppClient
from tests.helpers import register, unique_email

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "password",
    [
        "p" * 1024,  # the maximum, well past bcrypt's 72 bytes
        "пароль-пароль-пароль",  # non-ASCII
        "🔐" * 30,  # 120 bytes of 4-byte code points
        "with\x00nul\x00bytes",
    ],
)
async def test_unusual_passwords_work(client: AppClient, password: str) -> None:
    account = await register(client, password=password)
    login = await client.post("/api/v1/auth/login", json={"email": account.email, "password": password})
    assert login.status_code == 200


async def test_lone_surrogate_in_json_is_a_clear_400(client: AppClient) -> None:
    raw = b'{"email": "' + unique_email().encode() + b'", "name": "N", "password": "\\ud800 lone surrogate"}'
    response = await client.post("/register", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


async def test_every_character_counts_beyond_72_bytes(client: AppClient) -> None:
    password = "x" * 100 + "A"
    account = await register(client, password=password)
    near_miss = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": "x" * 100 + "B"}
    )
    assert near_miss.status_code == 401


async def test_nul_is_not_a_terminator(client: AppClient) -> None:
    account = await register(client, password="prefix12\x00suffix-one")
    other = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": "prefix12\x00suffix-two"}
    )
    assert other.status_code == 401


@pytest.mark.parametrize("password", ["short", "p" * 1025, ""])
async def test_register_rejects_bad_password_lengths(client: AppClient, password: str) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": unique_email(), "name": "N", "password": password}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


async def test_over_long_login_password_is_a_clear_400(client: AppClient) -> None:
    account = await register(client)
    response = await client.post("/api/v1/auth/login", json={"email": account.email, "password": "p" * 5000})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "name": "N", "password": "password123"},
        {"email": "", "name": "N", "password": "password123"},
        {"email": "a@b.co", "name": "", "password": "password123"},
        {"email": "a@b.co", "password": "password123"},
        {"email": ["a@b.co"], "name": "N", "password": "password123"},
        {"email": "a@b.co", "name": "N" * 101, "password": "password123"},
        {"email": "x" * 400 + "@b.co", "name": "N", "password": "password123"},
    ],
)
async def test_register_rejects_bad_bodies(client: AppClient, body: dict[str, Any]) -> None:
    response = await client.post("/register", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b'"text"', b"\xff\xfe"])
async def test_register_rejects_non_json(client: AppClient, raw: bytes) -> None:
    response = await client.post("/register", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400


async def test_form_login_without_fields_is_400(client: AppClient) -> None:
    response = await client.post("/token", data={"username": "a@b.co"})
    assert response.status_code == 400


async def test_oversized_body_is_413(client: AppClient) -> None:
    response = await client.post(
        "/register",
        content=b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


@WITH_REDIS_CLUSTER
async def test_login_attempts_are_rate_limited(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    client: AppClient = await make_client(make_settings(login_rate_limit=3))
    account = await register(client)
    attempts = [
        await client.post("/api/v1/auth/login", json={"email": account.email, "password": "wrong password"})
        for _ in range(3)
    ]
    assert [r.status_code for r in attempts] == [401, 401, 401]
    limited = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": "wrong password"}
    )
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["code"] == "rate_limited"
    # the right password is refused too while limited: guessing gains nothing
    right = await client.post("/token", data={"username": account.email, "password": account.password})
    assert right.status_code == 429
