"""A socket never outlives its session, and one user cannot hold sockets without limit (issue 22, items
2, 7 and 8): each test performs the attack through the public API and a socket, on both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from app.db.models.accounts import AuthSession
from app.ws.fanout import CloseCode
from tests.conftest import WITH_REDIS_CLUSTER, AppClient
from tests.helpers import bearer, register
from tests.wsclient import AsgiWebSocket

pytestmark = [pytest.mark.anyio, WITH_REDIS_CLUSTER]


async def group_of(client: AppClient, headers: dict[str, str]) -> int:
    created = await client.post("/groups", json={"name": "lab"}, headers=headers)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def test_a_reused_refresh_token_closes_the_sessions_sockets(client: AppClient) -> None:
    """A thief holding the session's old refresh token and a socket: when the victim's refresh has
    rotated it, the thief's reuse revokes the session, and the thief's socket must go with it."""
    victim = await register(client)
    group = await group_of(client, victim.headers)
    stolen = victim.refresh_token
    async with AsgiWebSocket(client.app, f"/ws/group/{group}", f"token={victim.access_token}") as thief:
        rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": stolen})
        assert rotated.status_code == 200, rotated.text  # the victim refreshes first
        reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": stolen})
        assert reused.status_code == 401
        assert await thief.close_code() == CloseCode.UNAUTHORIZED


@pytest.mark.parametrize("ending", ["revoked", "expired"])
async def test_a_socket_closes_when_its_session_ends_without_a_broadcast(
    client: AppClient, ending: str
) -> None:
    """Revocation whose broadcast never arrived (Redis down at the time, a session expiring): the
    worker's upkeep finds the session over and closes its sockets."""
    account = await register(client)
    group = await group_of(client, account.headers)
    async with AsgiWebSocket(client.app, f"/ws/group/{group}", f"token={account.access_token}") as socket:
        runtime: Any = client.app.state.runtime
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        ended = {"revoked_at": past} if ending == "revoked" else {"expires_at": past}
        async with runtime.sessions() as db:  # as if ended elsewhere, with no event published
            await db.execute(
                update(AuthSession).where(AuthSession.user_id == account.user["id"]).values(**ended)
            )
            await db.commit()
        await client.app.state.gateway.end_finished_sessions()
        assert await socket.close_code() == CloseCode.UNAUTHORIZED


async def test_sockets_per_user_are_capped(make_client: Any, make_settings: Any) -> None:
    client: AppClient = await make_client(make_settings(ws_sockets_per_user=3))
    account = await register(client)
    group = await group_of(client, account.headers)
    path, query = f"/ws/group/{group}", f"token={account.access_token}&events=all"
    sockets = [AsgiWebSocket(client.app, path, query) for _ in range(3)]
    for socket in sockets:
        await socket.__aenter__()
        await socket.until(lambda frame: frame["type"] == "subscribed")
    try:
        async with AsgiWebSocket(client.app, path, query) as fourth:
            assert await fourth.close_code() == CloseCode.TOO_MANY_SOCKETS
    finally:
        await sockets[0].__aexit__(None, None, None)
    async with AsgiWebSocket(client.app, path, query) as again:  # one closed: room for one more
        await again.until(lambda frame: frame["type"] == "subscribed")
    for socket in sockets[1:]:
        await socket.__aexit__(None, None, None)


@pytest.mark.parametrize("forwarded", [True, False])
async def test_socket_stats_are_for_operators_only(
    make_client: Any, make_settings: Any, forwarded: bool
) -> None:
    """Any signed-in user used to read the worker's pid and socket counts."""
    token = "m" * 40
    client: AppClient = await make_client(make_settings(metrics_token=None if forwarded else token))
    account = await register(client)
    headers = account.headers | ({"X-Forwarded-For": "203.0.113.9"} if forwarded else {})
    refused = await client.get("/api/v1/ws/stats", headers=headers)
    assert refused.status_code == 403, refused.text
    if not forwarded:
        allowed = await client.get("/api/v1/ws/stats", headers=bearer(token))
        assert allowed.status_code == 200
        assert allowed.json()["sockets"] == 0


async def test_socket_stats_on_the_machine_itself_need_no_token(client: AppClient) -> None:
    response = await client.get("/api/v1/ws/stats")
    assert response.status_code == 200, response.text
