"""Small helpers for API tests: unique users, auth headers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse battery"


@dataclass
class Account:
    email: str
    password: str
    access_token: str
    refresh_token: str
    user: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}@example.com"


async def register(client: httpx.AsyncClient, name: str = "Test User", password: str = PASSWORD) -> Account:
    email = unique_email()
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "name": name, "password": password}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(email, password, body["access_token"], body["refresh_token"], body["user"])


async def eventually(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait (polling) until `condition()` holds; fail after `timeout` seconds. A bound, not a timing."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)
