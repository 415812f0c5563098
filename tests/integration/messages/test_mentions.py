"""Mentions end to end over HTTP, on every message store: resolution at send and edit, the frames,
unread mention counts in the group list, and the Mentions view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.config import Settings
from tests.conftest import AppClient
from tests.helpers import Account, register
from tests.integration.messages.conftest import BACKENDS

pytestmark = pytest.mark.anyio


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def send(client: AppClient, who: Account, gid: int, text: str) -> dict[str, Any]:
    response = await client.post(f"/api/v1/groups/{gid}/messages", json={"text": text}, headers=who.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def counts(client: AppClient, who: Account, gid: int) -> tuple[int, int]:
    groups = (await client.get("/api/v1/groups", headers=who.headers)).json()
    (group,) = [g for g in groups if g["id"] == gid]
    return group["unread_count"], group["mention_count"]


async def mentions(client: AppClient, who: Account, **params: int) -> dict[str, Any]:
    response = await client.get("/api/v1/notifications/mentions", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_mentions_are_resolved_counted_and_listed(client: AppClient) -> None:
    owner = await register(client, name="Zoë Owner")
    anna = await register(client, name="Anna Maria")
    outsider = await register(client, name="Olaf")
    gid = (await client.post("/groups", json={"name": "Team"}, headers=owner.headers)).json()["id"]
    await client.post(f"/groups/{gid}/members", json={"email": anna.email}, headers=owner.headers)
    await client.post(f"/api/v1/groups/{gid}/read", json={"seq": 2}, headers=anna.headers)

    first = await send(client, owner, gid, "@anna maria, and @Olaf: look!")
    assert first["mentions"] == [anna.user["id"]]  # Olaf is no member: plain text
    assert first["text"] == "@anna maria, and @Olaf: look!"  # the raw text is kept
    assert (await send(client, owner, gid, "no mention here"))["mentions"] == []
    everyone = await send(client, owner, gid, "@all standup")
    assert everyone["mentions"] == [anna.user["id"]]  # everyone but the author
    assert await counts(client, anna, gid) == (3, 2)
    assert await counts(client, owner, gid) == (0, 0)

    history = (await client.get(f"/api/v1/groups/{gid}/messages", headers=anna.headers)).json()["items"]
    assert [m.get("mentions") for m in history[-3:]] == [[anna.user["id"]], [], [anna.user["id"]]]

    page = await mentions(client, anna, limit=1)
    assert [m["seq"] for m in page["items"]] == [everyone["seq"]]  # newest first
    assert page["next_offset"] == 1
    page = await mentions(client, anna, limit=1, offset=1)
    assert [m["seq"] for m in page["items"]] == [first["seq"]]
    assert page["next_offset"] is None
    assert (await mentions(client, outsider))["items"] == []

    # An edit updates the mentions; a deleted message no longer counts.
    edited = await client.patch(
        f"/api/v1/groups/{gid}/messages/{first['seq']}", json={"text": "never mind"}, headers=owner.headers
    )
    assert edited.json()["mentions"] == []
    assert await counts(client, anna, gid) == (3, 1)
    await client.delete(f"/api/v1/groups/{gid}/messages/{everyone['seq']}", headers=owner.headers)
    assert await counts(client, anna, gid) == (2, 0)
    again = await client.patch(
        f"/api/v1/groups/{gid}/messages/{first['seq']}",
        json={"text": "@Anna Maria after all"},
        headers=owner.headers,
    )
    assert again.json()["mentions"] == [anna.user["id"]]
    assert [m["seq"] for m in (await mentions(client, anna))["items"]] == [first["seq"]]

    # Reading past it clears the count (the Mentions view keeps it).
    await client.post(f"/api/v1/groups/{gid}/read", json={"seq": 99}, headers=anna.headers)
    assert await counts(client, anna, gid) == (0, 0)
    assert len((await mentions(client, anna))["items"]) == 1

    # A member who leaves no longer sees the group's mentions.
    await client.request(
        "DELETE", f"/groups/{gid}/members", json={"email": anna.email}, headers=owner.headers
    )
    assert (await mentions(client, anna))["items"] == []


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.usefixtures("sqlite_url")  # migrated before the test's event loop runs
async def test_all_is_for_admins_in_large_groups(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    client = await make_client(make_settings(mention_all_limit=2))
    owner = await register(client, name="Owner")
    anna = await register(client, name="Anna")
    bob = await register(client, name="Bob")
    gid = (await client.post("/groups", json={"name": "Big"}, headers=owner.headers)).json()["id"]
    for who in (anna, bob):
        await client.post(f"/groups/{gid}/members", json={"email": who.email}, headers=owner.headers)
    assert (await send(client, anna, gid, "@all hello"))["mentions"] == []  # 3 members > 2: plain text
    assert (await send(client, anna, gid, "@here @Bob"))["mentions"] == [bob.user["id"]]
    assert (await send(client, owner, gid, "@here hello"))["mentions"] == [anna.user["id"], bob.user["id"]]
