"""Security review (issue 22), item 6: wrong passwords from anywhere must not lock the owner out.

Failures count per (email, client address); a looser per-email ceiling stops a crowd of addresses,
yet a correct password from an address with no recent failure still signs in. On SQLite with
in-process counters and on PostgreSQL with the counters in Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.conftest import WITH_REDIS_CLUSTER, AppClient
from tests.helpers import Account, register

pytestmark = [pytest.mark.anyio, WITH_REDIS_CLUSTER]


def _settings(make_settings: Callable[..., Settings], **overrides: Any) -> Settings:
    # The test client is 127.0.0.1: trusted as a proxy, so X-Forwarded-For names each "client".
    return make_settings(login_rate_limit=3, trusted_proxies=("127.0.0.1/32",), **overrides)


async def _login(client: AppClient, account: Account, password: str, address: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login",
        json={"email": account.email, "password": password},
        headers={"x-forwarded-for": address},
    )


async def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings], settings: Settings
) -> None:
    del settings  # requested only so the database is made before the event loop runs
    client: AppClient = await make_client(_settings(make_settings))
    victim = await register(client, "Victim")
    guesses = [(await _login(client, victim, "wrong password", "203.0.113.66")).status_code for _ in range(4)]
    assert guesses == [401, 401, 401, 429]  # the guesser is stopped...
    owner = await _login(client, victim, victim.password, "198.51.100.7")
    assert owner.status_code == 200, owner.text  # ...and the owner, elsewhere, is not
    refused = await _login(client, victim, victim.password, "203.0.113.66")
    assert refused.status_code == 429  # even the right password, from the guessing address
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["code"] == "rate_limited"


async def test_a_crowd_of_addresses_hits_the_per_email_ceiling(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings], settings: Settings
) -> None:
    del settings  # requested only so the database is made before the event loop runs
    client: AppClient = await make_client(_settings(make_settings, login_email_failure_limit=5))
    victim = await register(client, "Victim")
    crowd = [f"203.0.113.{n}" for n in (1, 1, 2, 2, 3)]  # each under its own limit of 3; 5 in all
    for address in crowd:
        assert (await _login(client, victim, "wrong password", address)).status_code == 401
    # Past the ceiling (5), an address with failures of its own gets no more tries...
    blocked = await _login(client, victim, victim.password, crowd[0])
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    # ...a fresh one gets one: a wrong guess is refused and counted...
    assert (await _login(client, victim, "wrong again", "192.0.2.9")).status_code == 401
    assert (await _login(client, victim, victim.password, "192.0.2.9")).status_code == 429
    # ...and the owner with the right password, from an address with no failures, signs in.
    assert (await _login(client, victim, victim.password, "198.51.100.7")).status_code == 200
