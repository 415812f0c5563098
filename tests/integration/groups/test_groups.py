"""Groups over HTTP (seed paths and /api/v1): roles, membership, limits, system messages, access."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from app.config import Settings
from app.server.app import runtime_of
from tests.conftest import AppClient
from tests.helpers import Account, register

pytestmark = pytest.mark.anyio


async def make_group(client: AppClient, owner: Account, name: str = "My Group") -> dict[str, Any]:
    response = await client.post(
        "/groups", json={"name": name, "description": "A sample group"}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def add(client: AppClient, admin: Account, group_id: int, member: Account) -> None:
    response = await client.post(
        f"/groups/{group_id}/members", json={"email": member.email}, headers=admin.headers
    )
    assert response.status_code == 201, response.text


async def test_seed_group_flow(client: AppClient) -> None:
    owner = await register(client, name="Owner")
    john = await register(client, name="John Doe")
    group = await make_group(client, owner)
    assert (group["name"], group["description"], group["role"], group["member_count"]) == (
        "My Group",
        "A sample group",
        "admin",
        1,
    )
    await add(client, owner, group["id"], john)

    listed = await client.get("/groups", headers=john.headers)
    assert [g["id"] for g in listed.json()] == [group["id"]]
    mine = listed.json()[0]
    assert (mine["role"], mine["member_count"], mine["unread_count"]) == ("member", 2, 1)  # the add notice
    assert mine["last_message"]["type"] == "add"

    assert (await client.get(f"/verify-group-access/{group['id']}", headers=john.headers)).status_code == 200
    history = await client.get("/messages", params={"group_id": group["id"]}, headers=john.headers)
    assert history.status_code == 200
    [added] = history.json()
    assert added == {
        "type": "add",
        "id": added["id"],
        "seq": 1,
        "group_id": group["id"],
        "text": f"John Doe ({john.email}) was added to My Group",
        "user_email": john.email,
        "user_id": john.user["id"],
        "created_at": added["created_at"],
        "user": "system",
    }

    removed = await client.request(
        "DELETE", f"/groups/{group['id']}/members", json={"email": john.email}, headers=owner.headers
    )
    assert removed.status_code == 204
    assert (await client.get(f"/verify-group-access/{group['id']}", headers=john.headers)).status_code == 404
    left = (await client.get("/messages", params={"group_id": group["id"]}, headers=owner.headers)).json()[0]
    assert (left["type"], left["user"], left["text"], left["user_email"]) == (
        "leave",
        "system",
        f"John Doe ({john.email}) was removed from My Group",
        john.email,
    )


async def test_non_members_get_404_for_everything(client: AppClient) -> None:
    owner, stranger = await register(client), await register(client)
    group = await make_group(client, owner)
    gid = group["id"]
    for method, path, body in [
        ("GET", f"/api/v1/groups/{gid}", None),
        ("PATCH", f"/api/v1/groups/{gid}", {"name": "x"}),
        ("DELETE", f"/api/v1/groups/{gid}", None),
        ("GET", f"/api/v1/groups/{gid}/members", None),
        ("POST", f"/groups/{gid}/members", {"email": stranger.email}),
        ("POST", f"/api/v1/groups/{gid}/leave", None),
        ("GET", f"/verify-group-access/{gid}", None),
        ("GET", f"/api/v1/groups/{gid}/messages", None),
        ("POST", f"/api/v1/groups/{gid}/messages", {"text": "hi"}),
        ("POST", f"/api/v1/groups/{gid}/read", {"seq": 1}),
    ]:
        response = await client.request(method, path, json=body, headers=stranger.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"] == "Group not found"
    missing = await client.get("/api/v1/groups/987654321", headers=stranger.headers)
    assert missing.json() == (await client.get(f"/api/v1/groups/{gid}", headers=stranger.headers)).json()


async def test_admin_actions_need_admin(client: AppClient) -> None:
    owner, member, other = await register(client), await register(client), await register(client)
    gid = (await make_group(client, owner))["id"]
    await add(client, owner, gid, member)
    for method, path, body in [
        ("PATCH", f"/api/v1/groups/{gid}", {"name": "x"}),
        ("DELETE", f"/api/v1/groups/{gid}", None),
        ("POST", f"/api/v1/groups/{gid}/members", {"email": other.email}),
        ("DELETE", f"/api/v1/groups/{gid}/members/{owner.user['id']}", None),
        ("PATCH", f"/api/v1/groups/{gid}/members/{member.user['id']}", {"role": "admin"}),
    ]:
        response = await client.request(method, path, json=body, headers=member.headers)
        assert response.status_code == 403, (method, path)


async def test_update_and_delete_group(client: AppClient) -> None:
    owner, member = await register(client), await register(client)
    gid = (await make_group(client, owner))["id"]
    await add(client, owner, gid, member)
    updated = await client.patch(f"/api/v1/groups/{gid}", json={"name": "Renamed"}, headers=owner.headers)
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["description"]) == ("Renamed", "A sample group")
    assert (await client.delete(f"/api/v1/groups/{gid}", headers=owner.headers)).status_code == 204
    assert (await client.get(f"/api/v1/groups/{gid}", headers=member.headers)).status_code == 404
    assert (await client.get("/groups", headers=member.headers)).json() == []


async def test_roles_and_leaving(client: AppClient) -> None:
    owner, member = await register(client), await register(client)
    gid = (await make_group(client, owner))["id"]
    await add(client, owner, gid, member)

    blocked = await client.post(f"/api/v1/groups/{gid}/leave", headers=owner.headers)
    assert blocked.status_code == 409  # the last admin hands over first
    demote_self = await client.patch(
        f"/api/v1/groups/{gid}/members/{owner.user['id']}", json={"role": "member"}, headers=owner.headers
    )
    assert demote_self.status_code == 409
    promoted = await client.patch(
        f"/api/v1/groups/{gid}/members/{member.user['id']}", json={"role": "admin"}, headers=owner.headers
    )
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    assert (await client.post(f"/api/v1/groups/{gid}/leave", headers=owner.headers)).status_code == 204
    members = (await client.get(f"/api/v1/groups/{gid}/members", headers=member.headers)).json()
    assert [(m["user_id"], m["role"]) for m in members] == [(member.user["id"], "admin")]
    last = (await client.get(f"/api/v1/groups/{gid}/messages", headers=member.headers)).json()["items"][-1]
    assert (last["type"], last["text"]) == ("leave", f"Test User ({owner.email}) left My Group")
    # the last member leaving removes the group
    assert (await client.post(f"/api/v1/groups/{gid}/leave", headers=member.headers)).status_code == 204
    assert (await client.get(f"/api/v1/groups/{gid}", headers=member.headers)).status_code == 404


async def test_add_member_errors(client: AppClient) -> None:
    owner, member = await register(client), await register(client)
    gid = (await make_group(client, owner))["id"]
    await add(client, owner, gid, member)
    again = await client.post(f"/groups/{gid}/members", json={"email": member.email}, headers=owner.headers)
    assert again.status_code == 409
    by_id = await client.post(
        f"/api/v1/groups/{gid}/members", json={"user_id": member.user["id"]}, headers=owner.headers
    )
    assert by_id.status_code == 409
    unknown = await client.post(
        f"/groups/{gid}/members", json={"email": "nobody@example.com"}, headers=owner.headers
    )
    assert unknown.status_code == 404
    for body in [{}, {"email": member.email, "user_id": 1}, {"email": "not-an-email"}, {"user_id": 0}]:
        response = await client.post(f"/groups/{gid}/members", json=body, headers=owner.headers)
        assert response.status_code == 400, body
    not_member = await client.request(
        "DELETE",
        f"/groups/{gid}/members",
        json={"email": (await register(client)).email},
        headers=owner.headers,
    )
    assert not_member.status_code == 404
    self_remove = await client.delete(
        f"/api/v1/groups/{gid}/members/{owner.user['id']}", headers=owner.headers
    )
    assert self_remove.status_code == 409


async def test_member_limit(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    client: AppClient = await make_client(make_settings(group_member_limit=3))
    owner = await register(client)
    gid = (await make_group(client, owner))["id"]
    for _ in range(2):
        await add(client, owner, gid, await register(client))
    full = await client.post(
        f"/groups/{gid}/members", json={"email": (await register(client)).email}, headers=owner.headers
    )
    assert full.status_code == 409
    assert full.json()["detail"] == "The group is full (3 members)"


async def test_removed_member_loses_access_at_once(client: AppClient) -> None:
    owner, member = await register(client), await register(client)
    gid = (await make_group(client, owner))["id"]
    await add(client, owner, gid, member)
    sent = await client.post(f"/api/v1/groups/{gid}/messages", json={"text": "hi"}, headers=member.headers)
    assert sent.status_code == 201
    await client.delete(f"/api/v1/groups/{gid}/members/{member.user['id']}", headers=owner.headers)
    for path in (f"/api/v1/groups/{gid}/messages", f"/messages?group_id={gid}"):
        assert (await client.get(path, headers=member.headers)).status_code == 404
    seq = sent.json()["seq"]
    edit = await client.patch(
        f"/api/v1/groups/{gid}/messages/{seq}", json={"text": "x"}, headers=member.headers
    )
    assert edit.status_code == 404
    # The send before the removal had its membership remembered (app/domain/grants.py): not any more.
    again = await client.post(f"/api/v1/groups/{gid}/messages", json={"text": "hi?"}, headers=member.headers)
    assert again.status_code == 404


async def test_nothing_a_removed_member_sends_comes_after_the_notice_of_their_removal(
    client: AppClient,
) -> None:
    owner, member = await register(client), await register(client)
    gid = (await make_group(client, owner))["id"]
    await add(client, owner, gid, member)
    url = f"/api/v1/groups/{gid}/messages"
    assert (await client.post(url, json={"text": "warm"}, headers=member.headers)).status_code == 201

    async def send(i: int) -> int:
        await asyncio.sleep(i * 0.001)
        return (await client.post(url, json={"text": f"s{i}"}, headers=member.headers)).status_code

    removal = client.delete(f"/api/v1/groups/{gid}/members/{member.user['id']}", headers=owner.headers)
    statuses = await asyncio.gather(*(send(i) for i in range(30)), removal)
    assert statuses[-1].status_code == 204
    assert set(statuses[:-1]) <= {201, 404}
    history = (await client.get(f"{url}?limit=100", headers=owner.headers)).json()["items"]
    kinds = [(m["type"], m.get("user_email") or m["user"]) for m in history]
    notice = kinds.index(("leave", member.email))
    assert all(user != member.email for _, user in kinds[notice + 1 :]), kinds


async def test_direct_chat_is_idempotent_and_race_safe(client: AppClient) -> None:
    ann, bob = await register(client, name="Ann"), await register(client, name="Bob")
    first = await client.post("/api/v1/direct", json={"user_id": bob.user["id"]}, headers=ann.headers)
    assert first.status_code == 201
    chat = first.json()
    assert (chat["is_direct"], chat["name"], chat["member_count"], chat["peer"]["id"]) == (
        True,
        "Bob",
        2,
        bob.user["id"],
    )
    again = await client.post("/api/v1/direct", json={"email": ann.email}, headers=bob.headers)
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["name"]) == (chat["id"], "Ann")

    cat, dan = await register(client), await register(client)
    results = await asyncio.gather(
        *(
            client.post("/api/v1/direct", json={"user_id": dan.user["id"]}, headers=cat.headers)
            for _ in range(8)
        )
    )
    assert {r.status_code for r in results} <= {200, 201}
    assert len({r.json()["id"] for r in results}) == 1

    self_chat = await client.post("/api/v1/direct", json={"user_id": ann.user["id"]}, headers=ann.headers)
    assert self_chat.status_code == 400
    gid = chat["id"]
    outsider = await register(client)
    for method, path, body in [
        ("POST", f"/groups/{gid}/members", {"email": outsider.email}),
        ("PATCH", f"/api/v1/groups/{gid}", {"name": "x"}),
        ("DELETE", f"/api/v1/groups/{gid}", None),
        ("POST", f"/api/v1/groups/{gid}/leave", None),
    ]:
        response = await client.request(method, path, json=body, headers=ann.headers)
        assert response.status_code == 403, (method, path)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "ok", "description": "d" * 1001},
        {"name": 3},
    ],
)
async def test_create_group_rejects_bad_bodies(client: AppClient, body: dict[str, Any]) -> None:
    owner = await register(client)
    response = await client.post("/groups", json=body, headers=owner.headers)
    assert response.status_code == 400
    assert (await client.get("/groups", headers=owner.headers)).json() == []


async def delete_account(client: AppClient, account: Account) -> None:
    response = await client.request(
        "DELETE", "/api/v1/users/me", headers=account.headers, json={"password": account.password}
    )
    assert response.status_code == 204, response.text


async def test_the_last_admin_deleting_their_account_hands_the_group_on(client: AppClient) -> None:
    """The oldest remaining member becomes admin; the deleted account is no member anywhere; a group
    it was alone in is deleted."""
    owner, older, newer = (
        await register(client, "Owner"),
        await register(client, "Older"),
        await register(client),
    )
    group = (await make_group(client, owner))["id"]
    await add(client, owner, group, older)
    await add(client, owner, group, newer)
    alone = (await make_group(client, owner, "Alone"))["id"]
    await delete_account(client, owner)
    members = (await client.get(f"/api/v1/groups/{group}/members", headers=older.headers)).json()
    roles = {member["user_id"]: member["role"] for member in members}
    assert roles == {older.user["id"]: "admin", newer.user["id"]: "member"}
    assert (await client.get(f"/api/v1/groups/{alone}", headers=older.headers)).status_code == 404
    assert await runtime_of(client.app).messages.latest([alone]) == {}


async def test_a_new_account_with_a_deleted_accounts_email_does_not_inherit_its_messages(
    client: AppClient,
) -> None:
    """Seed-format frames name authors by email: old messages must not show the newcomer."""
    gone, reader = await register(client, "Gone"), await register(client, "Reader")
    group = (await make_group(client, reader))["id"]
    await add(client, reader, group, gone)
    sent = await client.post(f"/api/v1/groups/{group}/messages", json={"text": "hi"}, headers=gone.headers)
    assert sent.status_code == 201, sent.text
    await delete_account(client, gone)
    again = await client.post(
        "/register", json={"email": gone.email, "name": "New", "password": gone.password}
    )
    assert again.status_code == 200, again.text
    history = (await client.get(f"/messages?group_id={group}&limit=10", headers=reader.headers)).json()
    assert gone.email not in {message["user"] for message in history}
    assert gone.email not in {message.get("user_email") for message in history}
