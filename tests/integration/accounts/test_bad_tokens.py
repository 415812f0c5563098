"""Every malformed, forged, expired or misused token is a 401 with the JSON error shape, never a 500."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable

import jwt
import pytest

from app.domain.accounts.services import AccountService
from app.errors import Unauthorized
from app.server.app import runtime_of
from tests.conftest import SECRET, WITH_REDIS_CLUSTER, AppClient
from tests.helpers import Account, bearer, register

pytestmark = pytest.mark.anyio


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(account: Account, **changes: object) -> dict[str, object]:
    payload = jwt.decode(account.access_token, options={"verify_signature": False})
    payload.update(changes)
    return payload


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


FORGERIES: dict[str, Callable[[Account], str]] = {
    "alg none": lambda a: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(a))}.",
    "wrong algorithm": lambda a: jwt.encode(_claims(a), SECRET + SECRET, algorithm="HS512"),
    "wrong key": lambda a: jwt.encode(
        _claims(a), "another-secret-key-of-sufficient-length!", algorithm="HS256"
    ),
    "tampered payload": lambda a: ".".join(
        [a.access_token.split(".")[0], _b64(_claims(a, sub="1")), a.access_token.split(".")[2]]
    ),
    "expired": lambda a: jwt.encode(
        _claims(a, exp=_now() - dt.timedelta(minutes=5)), SECRET, algorithm="HS256"
    ),
    "future iat": lambda a: jwt.encode(
        _claims(a, iat=_now() + dt.timedelta(hours=1)), SECRET, algorithm="HS256"
    ),
    "future nbf": lambda a: jwt.encode(
        _claims(a, nbf=_now() + dt.timedelta(hours=1)), SECRET, algorithm="HS256"
    ),
    "refresh used as access": lambda a: a.refresh_token,
    "no jti": lambda a: jwt.encode(
        {k: v for k, v in _claims(a).items() if k != "jti"}, SECRET, algorithm="HS256"
    ),
    "non-numeric subject": lambda a: jwt.encode(_claims(a, sub="admin"), SECRET, algorithm="HS256"),
    "bad session id": lambda a: jwt.encode(_claims(a, sid="not-a-uuid"), SECRET, algorithm="HS256"),
    "unknown session": lambda a: jwt.encode(_claims(a, sid=str(uuid.uuid4())), SECRET, algorithm="HS256"),
    "other user's id in own session": lambda a: jwt.encode(
        _claims(a, sub=str(a.user["id"] + 100000)), SECRET, algorithm="HS256"
    ),
    "garbage": lambda _: "not.a.jwt",
    "empty segments": lambda _: "..",
    "non-ascii": lambda _: "ünïcødé.token.here",
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_forged_or_misused_tokens_are_401(client: AppClient, forgery: str) -> None:
    account = await register(client)
    token = FORGERIES[forgery](account)
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}".encode()})
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["status_code"] == 401
    assert body["code"] == "unauthorized"
    assert body["detail"]


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer\tabc"]
)
async def test_missing_or_malformed_authorization_header(client: AppClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_access_token_is_not_a_refresh_token(client: AppClient) -> None:
    account = await register(client)
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.access_token})
    assert response.status_code == 401
    # and the session survived the attempt
    assert (await client.get("/users/me", headers=account.headers)).status_code == 200


@WITH_REDIS_CLUSTER
async def test_ticket_is_single_use_and_not_an_access_token(client: AppClient) -> None:
    account = await register(client)
    issued = await client.post("/api/v1/auth/ws-ticket", headers=account.headers)
    assert issued.status_code == 201
    ticket = issued.json()
    assert 0 < ticket["expires_in"] <= 60
    assert (await client.get("/users/me", headers=bearer(ticket["ticket"]))).status_code == 401

    runtime = runtime_of(client.app)
    async with runtime.sessions() as db:
        principal = await AccountService(db, runtime).redeem_ticket(ticket["ticket"])
        assert principal.user_id == account.user["id"]
        with pytest.raises(Unauthorized, match="already been used"):
            await AccountService(db, runtime).redeem_ticket(ticket["ticket"])
        with pytest.raises(Unauthorized):
            await AccountService(db, runtime).redeem_ticket(account.access_token)
