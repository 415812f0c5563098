"""Sign in with an identity provider (OpenID Connect, issue 29) against a real one: oidc-provider
(npm, OpenID Certified) in a Node.js process, the full authorization code flow with PKCE, and every
refusal: bad state, replays, wrong nonce, audience, issuer, an expired token, `alg: none`, a key
the provider does not publish, an unverified email, account takeover by email, open redirects.
Each refusal is a 4xx with the JSON error shape (a page in words for a browser), never a 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from app.config import OidcProvider, Settings
from tests.conftest import AppClient
from tests.helpers import PASSWORD, bearer, register, unique_email
from tests.oidc_idp import (
    CLIENT_ID,
    CLIENT_SECRET,
    PROVIDER,
    Idp,
    authorize_query,
    new_key,
    oidc_idp,
    public_jwk,
)

pytestmark = pytest.mark.anyio
LOGIN = f"/api/v1/auth/oidc/{PROVIDER}/login"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    with oidc_idp(tmp_path_factory.mktemp("idp")) as provider:
        yield provider


@pytest.fixture
def sso_settings(idp: Idp, make_settings: Callable[..., Settings]) -> Settings:
    provider = OidcProvider(
        key=PROVIDER, issuer=idp.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, name="Corp SSO"
    )
    return make_settings(oidc_providers=(provider,))


@pytest.fixture
async def sso(sso_settings: Settings, make_client: Callable[..., Any]) -> AppClient:
    client: AppClient = await make_client(sso_settings)
    return client


async def start(client: httpx.AsyncClient, return_to: str | None = None) -> str:
    """The "Sign in with ..." click: Huddle's redirect to the provider (and its flow cookie)."""
    params = {"return_to": return_to} if return_to else {}
    response = await client.get(LOGIN, params=params)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def callback(client: httpx.AsyncClient, url: str, **headers: str) -> httpx.Response:
    parts = urlsplit(url)
    return await client.get(f"{parts.path}?{parts.query}", headers=headers)


async def exchange(client: httpx.AsyncClient, location: str) -> httpx.Response:
    code = location.split("#oidc=", 1)[1]
    return await client.post("/api/v1/auth/oidc/exchange", json={"code": code})


async def sign_in(client: httpx.AsyncClient, idp: Idp, sub: str) -> dict[str, Any]:
    back = idp.authorize(await start(client), sub)
    response = await callback(client, back)
    assert response.status_code == 302, response.text
    tokens = await exchange(client, response.headers["location"])
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def refused(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == "oidc_failed", body
    assert body["extra"]["reason"] == reason, body


async def test_first_sign_in_creates_the_account_and_a_session_like_a_password_sign_in(
    sso: AppClient, idp: Idp
) -> None:
    email = unique_email("sso")
    sub = idp.add_account(email, name="Ada Lovelace")
    authorize_url = await start(sso)
    query = authorize_query(authorize_url)
    assert authorize_url.startswith(f"{idp.issuer}/auth?")
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["state"]
    assert query["nonce"]
    assert query["state"] != query["nonce"]
    assert query["client_id"] == CLIENT_ID
    assert "openid" in query["scope"].split()
    cookie = next(c for c in sso.cookies.jar if c.name == "huddle_oidc")
    assert cookie.path == "/api/v1/auth/oidc"
    assert cookie.has_nonstandard_attr("HttpOnly")

    back = idp.authorize(authorize_url, sub)
    response = await callback(sso, back)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith("/#oidc=")
    tokens = (await exchange(sso, location)).json()
    assert set(tokens) == {
        "access_token",
        "refresh_token",
        "expires_in",
        "refresh_expires_in",
        "user",
        "token_type",
    }
    assert tokens["token_type"] == "bearer"
    assert tokens["user"]["email"] == email
    assert tokens["user"]["name"] == "Ada Lovelace"
    me = await sso.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    refreshed = await sso.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200  # a refresh-token family like any sign-in
    identities = (await sso.get("/api/v1/users/me/identities", headers=bearer(tokens["access_token"]))).json()
    assert identities["has_password"] is False
    assert [(i["provider"], i["provider_name"], i["email"]) for i in identities["identities"]] == [
        ("corp", "Corp SSO", email)
    ]
    # No password works for an account made by the provider.
    login = await sso.post("/api/v1/auth/login", json={"email": email, "password": "!"})
    assert login.status_code == 401

    again = await sign_in(sso, idp, sub)  # the second sign-in finds the same account
    assert again["user"]["id"] == tokens["user"]["id"]


async def test_return_to_lands_on_that_page(sso: AppClient, idp: Idp) -> None:
    sub = idp.add_account(unique_email("sso"))
    back = idp.authorize(await start(sso, "/g/12"), sub)
    response = await callback(sso, back)
    assert response.status_code == 302
    assert response.headers["location"].startswith("/g/12#oidc=")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/ok\r\nSet-Cookie: x=1",
    ],
)
async def test_return_to_elsewhere_is_refused(sso: AppClient, target: str) -> None:
    """Open redirect: only a path of this site is a place to land."""
    response = await sso.get(LOGIN, params={"return_to": target})
    assert response.status_code == 400, response.text
    assert "huddle_oidc" not in response.headers.get("set-cookie", "")


async def test_a_callback_with_another_state_is_refused(sso: AppClient, idp: Idp) -> None:
    sub = idp.add_account(unique_email("sso"))
    back = idp.authorize(await start(sso), sub)
    state = authorize_query(back)["state"]
    forged = back.replace(f"state={state}", "state=" + "A" * len(state))
    refused(await callback(sso, forged), 400, "bad_state")


async def test_a_callback_in_another_browser_is_refused(
    sso: AppClient, idp: Idp, sso_settings: Settings, make_client: Callable[..., Any]
) -> None:
    """Login CSRF: the code and state of the attacker's flow, delivered to a victim's browser,
    which has no flow cookie (or another flow's)."""
    sub = idp.add_account(unique_email("attacker"))
    back = idp.authorize(await start(sso), sub)
    victim: AppClient = await make_client(sso_settings)
    refused(await callback(victim, back), 400, "no_flow")
    await start(victim)  # the victim's own flow
    refused(await callback(victim, back), 400, "bad_state")


async def test_a_replayed_callback_is_refused(sso: AppClient, idp: Idp) -> None:
    sub = idp.add_account(unique_email("sso"))
    back = idp.authorize(await start(sso), sub)
    cookie = sso.cookies["huddle_oidc"]
    assert (await callback(sso, back)).status_code == 302
    sso.cookies.set("huddle_oidc", cookie, domain="testserver.local", path="/api/v1/auth/oidc")
    refused(await callback(sso, back), 400, "replayed")


async def test_a_replayed_code_is_refused_by_the_provider(sso: AppClient, idp: Idp) -> None:
    sub = idp.add_account(unique_email("sso"))
    first = idp.authorize(await start(sso), sub)
    assert (await callback(sso, first)).status_code == 302
    # A new flow of this browser, finished with the old code.
    second = idp.authorize(await start(sso), sub)
    old_code = authorize_query(first)["code"]
    replay = second.replace(f"code={authorize_query(second)['code']}", f"code={old_code}")
    refused(await callback(sso, replay), 400, "code_refused")


async def test_the_exchange_code_works_once(sso: AppClient, idp: Idp) -> None:
    sub = idp.add_account(unique_email("sso"))
    response = await callback(sso, idp.authorize(await start(sso), sub))
    location = response.headers["location"]
    assert (await exchange(sso, location)).status_code == 200
    again = await exchange(sso, location)
    assert again.status_code == 401
    forged = await sso.post("/api/v1/auth/oidc/exchange", json={"code": "not-a-code"})
    assert forged.status_code == 401


async def tampered(sso: AppClient, idp: Idp, make_token: Callable[[str, str], str]) -> httpx.Response:
    """A flow where the provider's token endpoint hands out `make_token(nonce, sub)`."""
    sub = idp.add_account(unique_email("sso"))
    authorize_url = await start(sso)
    idp.next_id_token(make_token(authorize_query(authorize_url)["nonce"], sub))
    return await callback(sso, idp.authorize(authorize_url, sub))


async def test_a_token_with_another_nonce_is_refused(sso: AppClient, idp: Idp) -> None:
    response = await tampered(sso, idp, lambda nonce, sub: idp.sign({"sub": sub, "nonce": nonce + "x"}))
    refused(response, 400, "bad_id_token")
    assert "nonce" in response.json()["detail"]
    refused(await tampered(sso, idp, lambda _nonce, sub: idp.sign({"sub": sub})), 400, "bad_id_token")


async def test_a_token_for_another_audience_is_refused(sso: AppClient, idp: Idp) -> None:
    response = await tampered(sso, idp, lambda n, sub: idp.sign({"sub": sub, "nonce": n, "aud": "other-app"}))
    refused(response, 400, "bad_id_token")
    several = await tampered(
        sso,
        idp,
        lambda n, sub: idp.sign({"sub": sub, "nonce": n, "aud": [CLIENT_ID, "other"], "azp": "other"}),
    )
    refused(several, 400, "bad_id_token")


async def test_a_token_from_another_issuer_is_refused(sso: AppClient, idp: Idp) -> None:
    response = await tampered(
        sso, idp, lambda n, sub: idp.sign({"sub": sub, "nonce": n, "iss": "https://evil.example"})
    )
    refused(response, 400, "bad_id_token")


async def test_an_expired_token_is_refused(sso: AppClient, idp: Idp) -> None:
    response = await tampered(
        sso,
        idp,
        lambda n, sub: idp.sign({"sub": sub, "nonce": n, "iat": 1_000_000_000, "exp": 1_000_000_300}),
    )
    refused(response, 400, "bad_id_token")
    assert "expired" in response.json()["detail"]


async def test_an_unsigned_token_is_refused(sso: AppClient, idp: Idp) -> None:
    """`alg: none`, and an HMAC keyed by the client secret (which the client holds too)."""

    def unsigned(nonce: str, sub: str) -> str:
        claims = {"iss": idp.issuer, "aud": CLIENT_ID, "sub": sub, "nonce": nonce}
        return jwt.encode(claims | {"iat": 2_000_000_000, "exp": 2_000_000_300}, None, algorithm="none")

    refused(await tampered(sso, idp, unsigned), 400, "bad_id_token")
    hmac_signed = await tampered(
        sso, idp, lambda n, sub: idp.sign({"sub": sub, "nonce": n}, key=CLIENT_SECRET.encode(), alg="HS256")
    )
    refused(hmac_signed, 400, "bad_id_token")


async def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused(
    sso: AppClient, idp: Idp
) -> None:
    other, _ = new_key("attacker-key")
    response = await tampered(sso, idp, lambda n, sub: idp.sign({"sub": sub, "nonce": n}, key=other))
    refused(response, 400, "bad_id_token")
    # The provider's key id, someone else's key: the signature fails.
    forged = await tampered(
        sso, idp, lambda n, sub: idp.sign({"sub": sub, "nonce": n}, key=other, kid=idp.kid)
    )
    refused(forged, 400, "bad_id_token")


async def test_a_rotated_key_is_fetched(sso: AppClient, idp: Idp) -> None:
    """The JWKS is cached; a token naming a key published since is verified after a refetch."""
    await sign_in(sso, idp, idp.add_account(unique_email("sso")))  # the JWKS is cached now
    # An unknown key id refetches the JWKS at most every 10 s (forged key ids cannot hammer the
    # provider); this rotation comes sooner than that.
    sso.app.state.runtime.oidc.providers[PROVIDER].jwks_refresh_interval = 0
    rotated, jwk = new_key(f"rotated-{unique_email()}")
    idp.publish_keys([public_jwk(jwk)])
    try:
        response = await tampered(
            sso,
            idp,
            lambda n, sub: idp.sign(
                {"sub": sub, "nonce": n, "email": unique_email("r"), "email_verified": True},
                key=rotated,
                kid=jwk["kid"],
            ),
        )
    finally:
        idp.publish_keys([])
    assert response.status_code == 302, response.text


async def test_an_unverified_email_makes_no_account(sso: AppClient, idp: Idp) -> None:
    email = unique_email("unverified")
    sub = idp.add_account(email, verified=False)
    response = await callback(sso, idp.authorize(await start(sso), sub))
    refused(response, 403, "unverified_email")
    # Nor can it register that way later: nothing was made.
    assert (
        await sso.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).status_code == 401


async def test_an_email_at_the_provider_never_takes_over_a_password_account(sso: AppClient, idp: Idp) -> None:
    victim = await register(sso)
    for verified in (False, True):
        sub = idp.add_account(victim.email.upper(), verified=verified)
        response = await callback(sso, idp.authorize(await start(sso), sub))
        refused(
            response, 403 if not verified else 409, "unverified_email" if not verified else "link_required"
        )
    identities = (await sso.get("/api/v1/users/me/identities", headers=victim.headers)).json()
    assert identities == {"identities": [], "has_password": True}


async def test_the_owner_links_the_provider_from_a_signed_in_session(sso: AppClient, idp: Idp) -> None:
    owner = await register(sso)
    sub = idp.add_account(owner.email, verified=True)
    link = await sso.post(
        f"/api/v1/auth/oidc/{PROVIDER}/link", json={"return_to": "/"}, headers=owner.headers
    )
    assert link.status_code == 200, link.text
    response = await callback(sso, idp.authorize(link.json()["authorization_url"], sub))
    assert response.status_code == 302, response.text
    assert response.headers["location"] == f"/#oidc_linked={PROVIDER}"
    tokens = await sign_in(sso, idp, sub)
    assert tokens["user"]["id"] == owner.user["id"]  # the provider signs the owner in from now on

    # Linking needs a signed-in session.
    assert (await sso.post(f"/api/v1/auth/oidc/{PROVIDER}/link", json={})).status_code == 401
    # The same provider account cannot be linked to a second Huddle account.
    other = await register(sso)
    link = await sso.post(f"/api/v1/auth/oidc/{PROVIDER}/link", json={}, headers=other.headers)
    refused(await callback(sso, idp.authorize(link.json()["authorization_url"], sub)), 409, "identity_taken")

    # Unlinking: allowed while the password remains.
    identities = (await sso.get("/api/v1/users/me/identities", headers=owner.headers)).json()["identities"]
    gone = await sso.delete(f"/api/v1/users/me/identities/{identities[0]['id']}", headers=owner.headers)
    assert gone.status_code == 204
    refused(await callback(sso, idp.authorize(await start(sso), sub)), 409, "link_required")


async def test_the_only_way_in_cannot_be_unlinked(sso: AppClient, idp: Idp) -> None:
    tokens = await sign_in(sso, idp, idp.add_account(unique_email("sso")))
    headers = bearer(tokens["access_token"])
    identity = (await sso.get("/api/v1/users/me/identities", headers=headers)).json()["identities"][0]
    response = await sso.delete(f"/api/v1/users/me/identities/{identity['id']}", headers=headers)
    assert response.status_code == 409
    other = await register(sso)
    response = await sso.delete(f"/api/v1/users/me/identities/{identity['id']}", headers=other.headers)
    assert response.status_code == 404  # not theirs


async def test_denied_consent_is_said_in_words(sso: AppClient, idp: Idp) -> None:
    back = idp.authorize(await start(sso), None, deny=True)
    assert "error=access_denied" in back
    refused(await callback(sso, back), 403, "denied")


async def test_a_browser_gets_the_reason_as_a_page(sso: AppClient, idp: Idp) -> None:
    sub = idp.add_account(unique_email("unverified"), verified=False)
    response = await callback(sso, idp.authorize(await start(sso), sub), accept="text/html,*/*")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "did not confirm that this email address is yours" in response.text
    assert 'href="/signin#oidc_error=unverified_email"' in response.text


async def test_unknown_provider_and_bad_input_are_4xx(sso: AppClient) -> None:
    assert (await sso.get("/api/v1/auth/oidc/nope/login")).status_code == 404
    assert (await sso.get("/api/v1/auth/oidc/BAD!/login")).status_code in (400, 404)
    response = await sso.get(f"/api/v1/auth/oidc/{PROVIDER}/callback", params={"code": "x", "state": "y"})
    refused(response, 400, "no_flow")
    sso.cookies.set("huddle_oidc", "garbage", domain="testserver.local", path="/api/v1/auth/oidc")
    refused(await sso.get(f"/api/v1/auth/oidc/{PROVIDER}/callback?code=x&state=y"), 400, "bad_state")


async def test_providers_are_listed_and_logout_goes_on_to_the_provider(sso: AppClient, idp: Idp) -> None:
    listed = (await sso.get("/api/v1/auth/oidc/providers")).json()
    assert listed == {
        "providers": [{"key": PROVIDER, "name": "Corp SSO", "login_url": LOGIN}],
        "password_signup": True,
    }
    logout = (await sso.get(f"/api/v1/auth/oidc/{PROVIDER}/logout")).json()
    assert logout["end_session_url"].startswith(f"{idp.issuer}/session/end?client_id={CLIENT_ID}")


async def test_password_signup_can_be_turned_off(
    idp: Idp, make_settings: Callable[..., Settings], make_client: Callable[..., Any]
) -> None:
    client: AppClient = await make_client(make_settings(allow_password_signup=False))
    response = await client.post(
        "/api/v1/auth/register", json={"email": unique_email(), "name": "N", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert (await client.get("/api/v1/auth/oidc/providers")).json()["password_signup"] is False


async def test_a_provider_account_sets_a_password_and_then_signs_in_with_either(
    sso: AppClient, idp: Idp
) -> None:
    email = unique_email("sso")
    sub = idp.add_account(email)
    tokens = await sign_in(sso, idp, sub)
    headers = bearer(tokens["access_token"])
    response = await sso.post(
        "/api/v1/users/me/password", json={"current_password": "", "new_password": PASSWORD}, headers=headers
    )
    assert response.status_code == 204, response.text  # no password yet: none to confirm
    login = await sso.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    assert login.json()["user"]["id"] == tokens["user"]["id"]
    assert (await sso.get("/api/v1/users/me/identities", headers=headers)).json()["has_password"] is True
    # From now on the password is confirmed like anyone's.
    response = await sso.post(
        "/api/v1/users/me/password",
        json={"current_password": "wrong", "new_password": PASSWORD},
        headers=headers,
    )
    assert response.status_code == 401
    assert (await sign_in(sso, idp, sub))["user"]["id"] == tokens["user"]["id"]


async def test_odd_but_valid_claims_sign_in_and_junk_claims_are_4xx(sso: AppClient, idp: Idp) -> None:
    """`email_verified: "true"` (Amazon Cognito's string) counts; a name with control characters is
    cleaned; an over-long `sub`, a non-string name or an email that is no address is a 4xx."""
    email = unique_email("cognito")
    response = await tampered(
        sso,
        idp,
        lambda n, sub: idp.sign(
            {"sub": sub, "nonce": n, "email": email, "email_verified": "true", "name": "Bob\x00\x1b Cole"}
        ),
    )
    assert response.status_code == 302, response.text
    tokens = (await exchange(sso, response.headers["location"])).json()
    assert (tokens["user"]["email"], tokens["user"]["name"]) == (email, "Bob Cole")
    junk = [
        {"sub": "x" * 300, "email": unique_email(), "email_verified": True},
        {"name": {"first": "Bob"}, "email": unique_email(), "email_verified": True},
    ]
    for claims in junk:
        response = await tampered(
            sso, idp, lambda n, sub, claims=claims: idp.sign({"sub": sub, "nonce": n} | claims)
        )
        refused(response, 400, "bad_id_token")
    response = await tampered(
        sso,
        idp,
        lambda n, sub: idp.sign({"sub": sub, "nonce": n, "email": "no-at-sign", "email_verified": True}),
    )
    refused(response, 403, "unverified_email")


async def test_callbacks_share_the_sign_in_rate_limit(
    idp: Idp, make_settings: Callable[..., Settings], make_client: Callable[..., Any]
) -> None:
    """A flow cookie is free to get; each callback with a code costs a call to the provider, so
    callbacks count against LOGIN_RATE_LIMIT per client address like password sign-ins."""
    provider = OidcProvider(key=PROVIDER, issuer=idp.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    client: AppClient = await make_client(make_settings(oidc_providers=(provider,), login_rate_limit=2))
    statuses = []
    for _ in range(3):
        state = authorize_query(await start(client))["state"]
        response = await client.get(
            f"/api/v1/auth/oidc/{PROVIDER}/callback", params={"code": "x", "state": state}
        )
        statuses.append(response.status_code)
    assert statuses == [400, 400, 429]  # the provider refuses the made-up code; then the limit


async def test_a_deleted_account_frees_its_provider_identity(sso: AppClient, idp: Idp) -> None:
    sub = idp.add_account(unique_email("sso"))
    first = await sign_in(sso, idp, sub)
    response = await sso.request(
        "DELETE", "/api/v1/users/me", json={"password": ""}, headers=bearer(first["access_token"])
    )
    assert response.status_code == 204, response.text  # no password to confirm on a provider's account
    again = await sign_in(sso, idp, sub)
    assert again["user"]["id"] != first["user"]["id"]  # a new account, not the deleted one
