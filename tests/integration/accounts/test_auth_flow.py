"""Register, sign in, refresh, sign out: through /api/v1 and the seed-000 paths, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from app.domain.accounts.services import AccountService
from app.server.app import runtime_of
from tests.conftest import AppClient
from tests.helpers import PASSWORD, bearer, register, unique_email

pytestmark = pytest.mark.anyio


async def test_seed_user_registration(client: AppClient) -> None:
    """Seed 000's own registration test, verbatim in substance (its email made unique per run)."""
    response = await client.post(
        "/register", json={"email": unique_email("test"), "name": "Test User", "password": "testpassword"}
    )
    assert response.status_code == 200
    assert "access_token" in response.json()


async def test_seed_register_returns_bearer_tokens(client: AppClient) -> None:
    email = unique_email()
    response = await client.post("/register", json={"email": email, "name": "John Doe", "password": PASSWORD})
    assert response.status_code == 200  # seed 000's status; /api/v1/auth/register answers 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"]
    assert body["refresh_token"]
    assert body["user"]["email"] == email
    assert body["user"]["name"] == "John Doe"
    assert "password" not in str(body["user"])


async def test_register_twice_conflicts_case_insensitively(client: AppClient) -> None:
    account = await register(client)
    response = await client.post(
        "/api/v1/auth/register", json={"email": account.email.upper(), "name": "Again", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


@pytest.mark.parametrize("path", ["/token", "/login", "/api/v1/auth/token"])
async def test_form_login_paths(client: AppClient, path: str) -> None:
    account = await register(client)
    response = await client.post(path, data={"username": account.email, "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = await client.get("/users/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["email"] == account.email


async def test_json_login(client: AppClient) -> None:
    account = await register(client)
    response = await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["user"]["id"] == account.user["id"]


async def test_wrong_password_and_unknown_email_get_the_same_answer(client: AppClient) -> None:
    account = await register(client)
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": "nope-nope-nope"}
    )
    unknown = await client.post("/api/v1/auth/login", json={"email": unique_email(), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/verify-token", "/api/v1/auth/verify"])
async def test_verify_token(client: AppClient, path: str) -> None:
    account = await register(client)
    response = await client.get(path, headers=account.headers)
    assert response.status_code == 200
    assert response.json() == {"valid": True, "user": account.user}


async def test_refresh_rotates_and_reuse_revokes_the_family(client: AppClient) -> None:
    account = await register(client)
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != account.refresh_token
    assert (await client.get("/users/me", headers=bearer(rotated["access_token"]))).status_code == 200

    reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert reused.status_code == 401
    # The leak is assumed: every token of that session stops working, the newest included.
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401
    assert (await client.get("/users/me", headers=bearer(rotated["access_token"]))).status_code == 401


async def test_logout_revokes_access_and_refresh_of_that_session_only(client: AppClient) -> None:
    account = await register(client)
    other = await client.post("/token", data={"username": account.email, "password": PASSWORD})
    other_token = other.json()["access_token"]

    assert (await client.post("/api/v1/auth/logout", headers=account.headers)).status_code == 204
    assert (await client.get("/users/me", headers=account.headers)).status_code == 401
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refresh.status_code == 401
    assert (await client.get("/users/me", headers=bearer(other_token))).status_code == 200


async def test_profile_update(client: AppClient) -> None:
    account = await register(client)
    response = await client.patch(
        "/api/v1/users/me",
        headers=account.headers,
        json={
            "display_name": "Johnny",
            "avatar_url": "https://example.com/a.png",
            "status_message": "watching",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["display_name"], body["avatar_url"], body["status_message"]) == (
        "Johnny",
        "https://example.com/a.png",
        "watching",
    )
    assert body["name"] == "Test User"  # untouched fields stay
    cleared = await client.patch("/api/v1/users/me", headers=account.headers, json={"display_name": None})
    assert cleared.json()["display_name"] is None
    assert cleared.json()["status_message"] == "watching"


@pytest.mark.parametrize(
    "patch",
    [
        {"avatar_url": "javascript:alert(1)"},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"status_message": "y" * 201},
        {"display_name": 5},
    ],
)
async def test_profile_update_rejects_bad_fields(client: AppClient, patch: dict[str, object]) -> None:
    account = await register(client)
    response = await client.patch("/api/v1/users/me", headers=account.headers, json=patch)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    me = (await client.get("/users/me", headers=account.headers)).json()
    assert me.pop("storage")["used"] == 0  # users/me adds the attachments' storage use
    assert me == account.user


async def test_password_change_ends_other_sessions(client: AppClient) -> None:
    account = await register(client)
    other = (await client.post("/token", data={"username": account.email, "password": PASSWORD})).json()
    new_password = "a brand new passphrase"

    wrong = await client.post(
        "/api/v1/users/me/password",
        headers=account.headers,
        json={"current_password": "not it at all", "new_password": new_password},
    )
    assert wrong.status_code == 401
    changed = await client.post(
        "/api/v1/users/me/password",
        headers=account.headers,
        json={"current_password": PASSWORD, "new_password": new_password},
    )
    assert changed.status_code == 204
    assert (await client.get("/users/me", headers=account.headers)).status_code == 200
    assert (await client.get("/users/me", headers=bearer(other["access_token"]))).status_code == 401
    old = await client.post("/token", data={"username": account.email, "password": PASSWORD})
    assert old.status_code == 401
    new = await client.post("/token", data={"username": account.email, "password": new_password})
    assert new.status_code == 200


async def test_account_deletion_stops_every_token(client: AppClient) -> None:
    account = await register(client)
    other = (await client.post("/token", data={"username": account.email, "password": PASSWORD})).json()
    refused = await client.request(
        "DELETE", "/api/v1/users/me", headers=account.headers, json={"password": "wrong one!"}
    )
    assert refused.status_code == 401
    deleted = await client.request(
        "DELETE", "/api/v1/users/me", headers=account.headers, json={"password": PASSWORD}
    )
    assert deleted.status_code == 204
    for token in (account.access_token, other["access_token"]):
        assert (await client.get("/users/me", headers=bearer(token))).status_code == 401
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refresh.status_code == 401
    login = await client.post("/token", data={"username": account.email, "password": PASSWORD})
    assert login.status_code == 401
    # The address is free again for a new account.
    again = await client.post("/register", json={"email": account.email, "name": "New", "password": PASSWORD})
    assert again.status_code == 200
    assert again.json()["user"]["id"] != account.user["id"]


async def test_user_by_id_shows_public_fields_only(client: AppClient) -> None:
    me, other = await register(client), await register(client, name="Other Person")
    response = await client.get(f"/api/v1/users/{other.user['id']}", headers=me.headers)
    assert response.status_code == 200
    assert response.json() == {
        "id": other.user["id"],
        "name": "Other Person",
        "display_name": None,
        "avatar_url": None,
        "status_message": None,
    }
    assert (await client.get("/api/v1/users/999999999", headers=me.headers)).status_code == 404
    assert (await client.get("/api/v1/users/99999999999999999999999", headers=me.headers)).status_code == 400
    assert (await client.get(f"/api/v1/users/{other.user['id']}")).status_code == 401


async def test_search_by_name_prefix_and_email(client: AppClient) -> None:
    tag = unique_email("x")[2:10]
    me = await register(client)
    found = [await register(client, name=f"Zed{tag} {i}") for i in range(3)]
    first = await client.get("/api/v1/users", params={"q": f"zed{tag}", "limit": 2}, headers=me.headers)
    assert first.status_code == 200
    page = first.json()
    assert [item["id"] for item in page["items"]] == [found[0].user["id"], found[1].user["id"]]
    assert page["next_offset"] == 2
    assert "email" not in page["items"][0]
    rest = await client.get(
        "/api/v1/users", params={"q": f"zed{tag}", "limit": 2, "offset": 2}, headers=me.headers
    )
    assert [item["id"] for item in rest.json()["items"]] == [found[2].user["id"]]
    assert rest.json()["next_offset"] is None

    local_part = found[0].email.split("@")[0]
    by_letters = await client.get("/api/v1/users", params={"q": local_part}, headers=me.headers)
    assert by_letters.json()["items"] == []  # no email browsing without an '@'
    by_email = await client.get("/api/v1/users", params={"q": found[0].email}, headers=me.headers)
    assert [item["id"] for item in by_email.json()["items"]] == [found[0].user["id"]]
    wildcard = await client.get("/api/v1/users", params={"q": "%"}, headers=me.headers)
    assert wildcard.json()["items"] == []


async def test_search_finds_any_word_of_the_name_ignoring_case_and_accents(
    client: AppClient, backend: str
) -> None:
    """Surnames are found (issue 34 #9): any word's start, in any case, with or without accents."""
    tag = unique_email("x")[2:8]
    me = await register(client)
    bob = await register(client, name=f"Bob Cole-Baker{tag}")
    zoe = await register(client, name=f"Zoë Ångström{tag}")
    lukasz = await register(client, name=f"ŁUKASZ Straße{tag}")
    renamed = await register(client, name=f"Plain{tag}")
    profile = {"display_name": f"Élodie D'Arcy{tag}"}
    await client.patch("/api/v1/users/me", json=profile, headers=renamed.headers)

    async def found(query: str) -> list[int]:
        response = await client.get("/api/v1/users", params={"q": query, "limit": 50}, headers=me.headers)
        assert response.status_code == 200, (backend, response.text)
        return [item["id"] for item in response.json()["items"]]

    for query in ("bob", "Cole", "cole", "baker", f"BAKER{tag}", f"cole-baker{tag}", f"cole baker{tag}"):
        assert bob.user["id"] in await found(query), (backend, query)
    for query in (f"angstrom{tag}", f"ångström{tag}", f"ANGSTRÖM{tag}", "zoe ang", "ZOË"):
        assert zoe.user["id"] in await found(query), (backend, query)
    for query in ("lukasz", "łukasz", f"strasse{tag}", f"STRASSE{tag}"):
        assert lukasz.user["id"] in await found(query), (backend, query)
    for query in ("elodie", "ÉLODIE", f"arcy{tag}", f"d'arcy{tag}"):
        assert renamed.user["id"] in await found(query), (backend, query)
    # Word starts only, not any substring; and still no email browsing without an '@'.
    assert await found(f"aker{tag}") == []
    assert await found(f"ole-baker{tag}") == []
    assert await found(bob.email.split("@")[0]) == []
    assert await found("_") == []


@pytest.mark.parametrize(
    "params", [{}, {"q": ""}, {"q": "a" * 101}, {"q": "ab", "limit": 0}, {"q": "ab", "limit": 51}]
)
async def test_search_rejects_bad_parameters(client: AppClient, params: dict[str, object]) -> None:
    me = await register(client)
    response = await client.get("/api/v1/users", params=params, headers=me.headers)
    assert response.status_code == 400


async def test_field_errors_say_in_words_what_is_wrong(client: AppClient) -> None:
    """No raw regex in a field error (issue 34 #6): each field gets a sentence; msgspec's wording
    stays in `reason` for programs."""
    response = await client.post(
        "/api/v1/auth/register", json={"email": "ann@@example.com", "name": "Ann", "password": PASSWORD}
    )
    assert response.status_code == 400
    [error] = response.json()["extra"]
    assert error["key"] == "email"
    assert error["message"] == "Email must be an email address, like name@example.com."
    assert "regex" in error["reason"]
    short = await client.post(
        "/api/v1/auth/register", json={"email": unique_email(), "name": "Ann", "password": "short"}
    )
    assert short.json()["extra"][0]["message"] == "Password must be at least 8 characters."
    missing = await client.post("/api/v1/auth/register", json={"email": unique_email(), "password": PASSWORD})
    assert missing.json()["extra"][0]["message"] == "Name is required."
    assert "regex" not in str([e["message"] for e in response.json()["extra"]])


async def test_a_request_is_authenticated_by_one_statement_outside_a_transaction(client: AppClient) -> None:
    """Every authenticated request asks who it is: one statement on an autocommit connection (no
    BEGIN or COMMIT round trips); the user it loads belongs to the request's session, so a service
    that changes it stores the change."""
    account = await register(client)
    runtime = runtime_of(client.app)
    sent: list[str | None] = []  # each statement's connection's isolation level

    def statement(conn: Any, *_: Any) -> None:
        sent.append(conn.get_execution_options().get("isolation_level"))

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", statement)
    try:
        async with runtime.sessions() as db:
            principal = await AccountService(db, runtime).authenticate(account.access_token)
            assert sent == ["AUTOCOMMIT"]
            assert principal.user in db  # persistent in this session, not a copy
            principal.user.status_message = "changed through the principal"
            await db.commit()
    finally:
        event.remove(engine, "before_cursor_execute", statement)
    me = (await client.get("/users/me", headers=account.headers)).json()
    assert (me["id"], me["status_message"]) == (account.user["id"], "changed through the principal")
