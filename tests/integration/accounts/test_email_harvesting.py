"""Security review (issue 22), item 4: email harvesting.

The attack: any signed-in user opens a direct chat with anyone, or adds anyone to a group of their
own by `user_id`, then reads the member list, where every member's email is. Each test performs
it through the public API and asserts the refusal: direct chats and member additions are rate-limited
per user (429 with Retry-After), a user may block another, and no route shows an email to someone
who shares no group with its owner. On SQLite with in-process counters and on PostgreSQL + Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest

from app.config import Settings
from tests.conftest import AppClient
from tests.helpers import Account, register

pytestmark = pytest.mark.anyio


async def _client(make_client: Callable[[Settings], Any], settings: Settings, **overrides: Any) -> AppClient:
    client: AppClient = await make_client(msgspec.structs.replace(settings, **overrides))
    return client


async def _group(client: AppClient, owner: Account, name: str = "Harvest") -> int:
    response = await client.post("/api/v1/groups", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _direct(client: AppClient, who: Account, **ref: Any) -> httpx.Response:
    return await client.post("/api/v1/direct", json=ref, headers=who.headers)


async def _add(client: AppClient, admin: Account, group_id: int, **ref: Any) -> httpx.Response:
    return await client.post(f"/api/v1/groups/{group_id}/members", json=ref, headers=admin.headers)


def _emails(payload: Any) -> set[str]:
    """Every string anywhere in a JSON payload that looks like an address."""
    found: set[str] = set()
    if isinstance(payload, dict):
        for value in payload.values():
            found |= _emails(value)
    elif isinstance(payload, list):
        for value in payload:
            found |= _emails(value)
    elif isinstance(payload, str) and "@" in payload:
        found.add(payload)
    return found


def _assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert (body["status_code"], body["code"]) == (429, "rate_limited")
    assert body["detail"]


# -- rate limits -----------------------------------------------------------------------------------


async def test_direct_chat_creation_is_rate_limited_per_user(
    make_client: Callable[[Settings], Any], settings: Settings
) -> None:
    client = await _client(make_client, settings, direct_chat_rate_limit=3)
    harvester = await register(client, "Harvester")
    victims = [await register(client, f"Victim {n}") for n in range(5)]
    created = [await _direct(client, harvester, user_id=v.user["id"]) for v in victims[:3]]
    assert [r.status_code for r in created] == [201, 201, 201]
    _assert_limited(await _direct(client, harvester, user_id=victims[3].user["id"]))
    # Probing addresses counts as well: an unknown email is an attempt like any other.
    _assert_limited(await _direct(client, harvester, email="nobody-at-all@example.com"))
    # Reopening a chat that exists costs nothing: the SPA opens it on every click.
    again = await _direct(client, harvester, user_id=victims[0].user["id"])
    assert (again.status_code, again.json()["id"]) == (200, created[0].json()["id"])
    # Per user, not per address: someone else from the same address is not stopped.
    other = await register(client, "Other")
    assert (await _direct(client, other, user_id=victims[4].user["id"])).status_code == 201


async def test_member_additions_are_rate_limited_per_user(
    make_client: Callable[[Settings], Any], settings: Settings
) -> None:
    client = await _client(make_client, settings, member_add_rate_limit=3)
    admin = await register(client, "Admin")
    first, second = await _group(client, admin, "One"), await _group(client, admin, "Two")
    people = [await register(client, f"Person {n}") for n in range(3)]
    # Every attempt counts, across groups and whatever it names: found, unknown or already a member.
    assert (await _add(client, admin, first, email=people[0].email)).status_code == 201
    assert (await _add(client, admin, second, email="nobody-at-all@example.com")).status_code == 404
    assert (await _add(client, admin, second, user_id=people[0].user["id"])).status_code == 201
    _assert_limited(await _add(client, admin, first, email=people[1].email))
    _assert_limited(await _add(client, admin, second, user_id=people[1].user["id"]))
    members = (await client.get(f"/api/v1/groups/{first}/members", headers=admin.headers)).json()
    assert {m["user_id"] for m in members} == {admin.user["id"], people[0].user["id"]}
    # Another admin is not slowed by this one.
    other = await register(client, "Other admin")
    assert (await _add(client, other, await _group(client, other), email=people[2].email)).status_code == 201


# -- no email to someone who shares no group -------------------------------------------------------


async def test_a_direct_chat_does_not_reveal_the_peers_email(client: AppClient) -> None:
    harvester, victim = await register(client, "Harvester"), await register(client, "Victim")
    opened = await _direct(client, harvester, user_id=victim.user["id"])
    assert opened.status_code == 201
    assert victim.email not in _emails(opened.json())
    chat = opened.json()["id"]
    members = await client.get(f"/api/v1/groups/{chat}/members", headers=harvester.headers)
    assert members.status_code == 200
    assert victim.email not in _emails(members.json())
    by_id = {m["user_id"]: m for m in members.json()}
    assert by_id[victim.user["id"]]["email"] is None
    assert by_id[harvester.user["id"]]["email"] == harvester.email  # one's own address stays
    for path in ("/api/v1/groups", f"/api/v1/groups/{chat}", f"/api/v1/users/{victim.user['id']}"):
        response = await client.get(path, headers=harvester.headers)
        assert response.status_code == 200
        assert victim.email not in _emails(response.json()), path


async def test_writing_in_a_direct_chat_does_not_reveal_the_authors_email(client: AppClient) -> None:
    harvester, victim = await register(client, "Harvester"), await register(client, "Victim")
    chat = (await _direct(client, harvester, user_id=victim.user["id"])).json()["id"]
    sent = await client.post(
        f"/api/v1/groups/{chat}/messages", json={"text": "who are you, zebracorn"}, headers=victim.headers
    )
    assert sent.status_code == 201, sent.text
    assert (sent.json()["user_id"], sent.json()["user_name"]) == (victim.user["id"], "Victim")
    for path, params in [
        (f"/api/v1/groups/{chat}/messages", {}),
        ("/messages", {"group_id": chat}),
        ("/api/v1/groups", {}),
        ("/api/v1/messages/search", {"q": "zebracorn"}),
    ]:
        response = await client.get(path, params=params, headers=harvester.headers)
        assert response.status_code == 200, (path, response.text)
        assert "zebracorn" in response.text, path
        assert victim.email not in _emails(response.json()), path


async def test_a_direct_chat_shows_the_email_of_someone_sharing_a_group(client: AppClient) -> None:
    ann, bob = await register(client, "Ann"), await register(client, "Bob")
    gid = await _group(client, ann)
    assert (await _add(client, ann, gid, email=bob.email)).status_code == 201
    chat = (await _direct(client, bob, user_id=ann.user["id"])).json()["id"]
    members = (await client.get(f"/api/v1/groups/{chat}/members", headers=bob.headers)).json()
    assert {m["user_id"]: m["email"] for m in members}[ann.user["id"]] == ann.email


async def test_a_stranger_cannot_be_added_by_user_id(client: AppClient) -> None:
    harvester, victim = await register(client, "Harvester"), await register(client, "Victim")
    gid = await _group(client, harvester)
    refused = await _add(client, harvester, gid, user_id=victim.user["id"])
    nobody = await _add(client, harvester, gid, user_id=2_000_000_000)
    assert refused.status_code == nobody.status_code == 404
    assert refused.json() == nobody.json()  # the same answer as for nobody at all
    members = (await client.get(f"/api/v1/groups/{gid}/members", headers=harvester.headers)).json()
    assert [m["user_id"] for m in members] == [harvester.user["id"]]
    # A direct chat does not make a stranger addable either.
    assert (await _direct(client, harvester, user_id=victim.user["id"])).status_code == 201
    assert (await _add(client, harvester, gid, user_id=victim.user["id"])).status_code == 404


async def test_someone_sharing_a_group_can_be_added_by_user_id(client: AppClient) -> None:
    ann, bob = await register(client, "Ann"), await register(client, "Bob")
    first, second = await _group(client, ann, "First"), await _group(client, ann, "Second")
    assert (await _add(client, ann, first, email=bob.email)).status_code == 201
    added = await _add(client, ann, second, user_id=bob.user["id"])
    assert added.status_code == 201, added.text
    assert added.json()["email"] == bob.email


async def test_removing_by_email_does_not_tell_who_has_an_account(client: AppClient) -> None:
    admin, stranger = await register(client, "Admin"), await register(client, "Stranger")
    gid = await _group(client, admin)
    answers = [
        await client.request("DELETE", f"/groups/{gid}/members", json={"email": email}, headers=admin.headers)
        for email in (stranger.email, "nobody-at-all@example.com")
    ]
    assert [r.status_code for r in answers] == [404, 404]
    assert answers[0].json() == answers[1].json()


async def test_user_search_matches_a_whole_email_only(client: AppClient) -> None:
    searcher = await register(client, "Searcher")
    victim = await register(client, "Victim")
    local, domain = victim.email.split("@")

    async def found(query: str) -> list[int]:
        response = await client.get("/api/v1/users", params={"q": query}, headers=searcher.headers)
        assert response.status_code == 200, response.text
        assert victim.email not in _emails(response.json())
        return [user["id"] for user in response.json()["items"]]

    # Guessing the domain letter by letter after a known name must find nothing...
    for prefix in (f"{local}@", f"{local}@{domain[:1]}", f"{local}@{domain[:-1]}"):
        assert victim.user["id"] not in await found(prefix), prefix
    # ...while someone who knows the whole address finds the person (an admin's add by email).
    assert await found(victim.email.upper()) == [victim.user["id"]]


# -- blocking ---------------------------------------------------------------------------------------


async def test_a_blocked_user_cannot_open_a_direct_chat_or_add_the_blocker(client: AppClient) -> None:
    victim, pest = await register(client, "Victim"), await register(client, "Pest")
    shared = await _group(client, pest, "Shared")
    assert (await _add(client, pest, shared, email=victim.email)).status_code == 201

    blocked = await client.put(f"/api/v1/users/me/blocks/{pest.user['id']}", headers=victim.headers)
    assert blocked.status_code == 204, blocked.text
    again = await client.put(f"/api/v1/users/me/blocks/{pest.user['id']}", headers=victim.headers)
    assert again.status_code == 204  # idempotent
    listed = await client.get("/api/v1/users/me/blocks", headers=victim.headers)
    assert listed.status_code == 200
    assert [(b["user"]["id"], b["user"]["name"]) for b in listed.json()] == [(pest.user["id"], "Pest")]
    assert listed.json()[0]["blocked_at"]
    assert (await client.get("/api/v1/users/me/blocks", headers=pest.headers)).json() == []

    # The blocked user: the blocker answers like nobody at all, by id and by email.
    unknown_direct = await _direct(client, pest, email="nobody-at-all@example.com")
    for ref in ({"user_id": victim.user["id"]}, {"email": victim.email}):
        refused = await _direct(client, pest, **ref)
        assert (refused.status_code, refused.json()) == (404, unknown_direct.json()), ref
    other = await _group(client, pest, "Other")
    unknown_add = await _add(client, pest, other, email="nobody-at-all@example.com")
    for ref in ({"user_id": victim.user["id"]}, {"email": victim.email}):
        refused = await _add(client, pest, other, **ref)
        assert (refused.status_code, refused.json()) == (404, unknown_add.json()), ref
    # The blocker is told why.
    mine = await _direct(client, victim, user_id=pest.user["id"])
    assert (mine.status_code, mine.json()["code"]) == (409, "blocked")

    # Existing shared groups stay, with their emails (the seed's contract).
    members = (await client.get(f"/api/v1/groups/{shared}/members", headers=pest.headers)).json()
    assert {m["user_id"]: m["email"] for m in members}[victim.user["id"]] == victim.email
    members = (await client.get(f"/api/v1/groups/{other}/members", headers=pest.headers)).json()
    assert [m["user_id"] for m in members] == [pest.user["id"]]

    # Unblocking lifts it.
    unblocked = await client.delete(f"/api/v1/users/me/blocks/{pest.user['id']}", headers=victim.headers)
    assert unblocked.status_code == 204
    assert (await client.get("/api/v1/users/me/blocks", headers=victim.headers)).json() == []
    assert (await _direct(client, pest, user_id=victim.user["id"])).status_code == 201
    assert (await _add(client, pest, other, email=victim.email)).status_code == 201


async def test_a_block_ends_an_existing_direct_chats_reopening_but_keeps_it(client: AppClient) -> None:
    ann, bob = await register(client, "Ann"), await register(client, "Bob")
    chat = (await _direct(client, ann, user_id=bob.user["id"])).json()["id"]
    assert (
        await client.put(f"/api/v1/users/me/blocks/{ann.user['id']}", headers=bob.headers)
    ).status_code == 204
    assert (await _direct(client, ann, user_id=bob.user["id"])).status_code == 404
    # The chat itself stays in both lists (like a shared group): history is not taken away.
    for who in (ann, bob):
        ids = [g["id"] for g in (await client.get("/api/v1/groups", headers=who.headers)).json()]
        assert chat in ids


async def test_the_blocker_is_hidden_from_the_blocked_users_search_and_profile(client: AppClient) -> None:
    victim, pest = await register(client, "Quietperson"), await register(client, "Pest")
    assert (
        await client.put(f"/api/v1/users/me/blocks/{pest.user['id']}", headers=victim.headers)
    ).status_code == 204
    profile = await client.get(f"/api/v1/users/{victim.user['id']}", headers=pest.headers)
    nobody = await client.get("/api/v1/users/2000000000", headers=pest.headers)
    assert (profile.status_code, profile.json()) == (404, nobody.json())
    for query in ("Quietperson", victim.email):
        page = await client.get("/api/v1/users", params={"q": query}, headers=pest.headers)
        assert victim.user["id"] not in [u["id"] for u in page.json()["items"]], query
    # Others still find them.
    other = await register(client, "Other")
    page = await client.get("/api/v1/users", params={"q": "Quietperson"}, headers=other.headers)
    assert victim.user["id"] in [u["id"] for u in page.json()["items"]]


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("PUT", "self", 409),
        ("PUT", "2000000000", 404),
        ("PUT", "0", 400),
        ("PUT", "-1", 400),
        ("PUT", "99999999999999999999999", 400),
        ("PUT", "abc", 404),
        ("DELETE", "self", 204),
        ("DELETE", "0", 400),
        ("DELETE", "abc", 404),
    ],
)
async def test_hostile_block_targets_are_4xx(
    client: AppClient, method: str, target: str, status: int
) -> None:
    me = await register(client)
    path = f"/api/v1/users/me/blocks/{me.user['id'] if target == 'self' else target}"
    response = await client.request(method, path, headers=me.headers)
    assert response.status_code == status, response.text
    if status != 204:
        assert response.json()["status_code"] == status


async def test_blocks_need_a_signed_in_user(client: AppClient) -> None:
    for method in ("GET", "PUT", "DELETE"):
        path = "/api/v1/users/me/blocks" + ("" if method == "GET" else "/1")
        assert (await client.request(method, path)).status_code == 401


async def test_a_deactivated_account_cannot_be_blocked_and_its_blocks_go_with_it(client: AppClient) -> None:
    ann, bob = await register(client, "Ann"), await register(client, "Bob")
    assert (
        await client.put(f"/api/v1/users/me/blocks/{bob.user['id']}", headers=ann.headers)
    ).status_code == 204
    gone = await client.request(
        "DELETE", "/api/v1/users/me", json={"password": bob.password}, headers=bob.headers
    )
    assert gone.status_code == 204
    assert (await client.get("/api/v1/users/me/blocks", headers=ann.headers)).json() == []
    assert (
        await client.put(f"/api/v1/users/me/blocks/{bob.user['id']}", headers=ann.headers)
    ).status_code == 404
