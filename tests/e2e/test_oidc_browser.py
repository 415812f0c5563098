"""Sign in with an identity provider in a real browser: Debian's Chromium (Playwright), the real
server (`huddle run`) and a real OpenID Provider (oidc-provider on Node.js, tests/oidc_idp.mjs).

The sign-in page shows "Sign in with Corp SSO"; clicking it goes to the provider, whose pages the
test's account passes (interaction approved by the provider script), and lands back in the app
signed in. A refusal (an email the provider has not verified) is said in words, on the callback's
page and then on the sign-in form.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e import test_spa
from tests.e2e.test_spa import PASSWORD, SERVER_ENV, VIEWPORT, expect
from tests.oidc_idp import CLIENT_ID, CLIENT_SECRET, Idp, oidc_idp
from tests.process import Server, free_port, run_server

pytestmark = pytest.mark.slow
browser = test_spa.browser  # the browser suite's Chromium fixture


@pytest.fixture(scope="module")
def sso_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Idp]]:
    workdir = tmp_path_factory.mktemp("sso")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with oidc_idp(workdir, redirect_uris=(f"{public}/api/v1/auth/oidc/corp/callback",)) as idp:
        env = SERVER_ENV | {
            "PORT": str(port),
            "PUBLIC_URL": public,
            "OIDC_PROVIDERS": "corp",
            "OIDC_CORP_ISSUER": idp.issuer,
            "OIDC_CORP_CLIENT_ID": CLIENT_ID,
            "OIDC_CORP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_CORP_NAME": "Corp SSO",
        }
        with run_server(workdir, **env) as server:
            yield server, idp


def test_sign_in_with_the_provider_lands_in_the_app(browser: object, sso_server: tuple[Server, Idp]) -> None:
    server, idp = sso_server
    name = f"Grace {uuid.uuid4().hex[:6]}"
    idp.browser_account(idp.add_account(f"grace-{uuid.uuid4().hex[:8]}@example.com", name=name))
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[attr-defined]
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        page.goto(f"{server.url}/signin")
        page.get_by_role("link", name="Sign in with Corp SSO").click()
        expect(page.get_by_role("heading", name=f"Welcome, {name}")).to_be_visible()
        assert "#" not in page.url  # the one-time code is gone from the address bar
        expect(page.locator(".conn")).to_have_attribute("data-status", "online")
        page.reload()  # the session survives a reload like a password sign-in's
        expect(page.get_by_role("heading", name=f"Welcome, {name}")).to_be_visible()
        # Signing out ends Huddle's session and offers the provider's RP-initiated logout.
        page.get_by_role("button", name="Sign out").click()
        provider_logout = page.get_by_role("link", name="Sign out of Corp SSO too")
        expect(provider_logout).to_have_attribute(
            "href", re.compile(rf"^{re.escape(idp.issuer)}/session/end\?")
        )
    finally:
        context.close()
    assert problems == []


def test_an_unverified_email_is_refused_in_words(browser: object, sso_server: tuple[Server, Idp]) -> None:
    server, idp = sso_server
    idp.browser_account(idp.add_account(f"eve-{uuid.uuid4().hex[:8]}@example.com", verified=False))
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        page.goto(f"{server.url}/signin")
        with page.expect_response(lambda r: "/callback" in r.url) as landed:
            page.get_by_role("link", name="Sign in with Corp SSO").click()
        assert landed.value.status == 403
        expect(page.get_by_text("did not confirm that this email address is yours")).to_be_visible()
        page.get_by_role("link", name="Back to sign in").click()
        expect(
            page.get_by_text("Your identity provider has not confirmed your email address")
        ).to_be_visible()
        expect(page.get_by_role("heading", name="Sign in to Huddle")).to_be_visible()
    finally:
        context.close()


def test_a_password_user_links_the_provider_and_then_signs_in_with_it(
    browser: object, sso_server: tuple[Server, Idp]
) -> None:
    server, idp = sso_server
    name = f"Ada {uuid.uuid4().hex[:6]}"
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    idp.browser_account(idp.add_account(email, name=name))
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[attr-defined]
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        page.goto(f"{server.url}/signup")
        page.get_by_label("Name").fill(name)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", name=f"Welcome, {name}")).to_be_visible()
        # The provider's account has the same email: signing in with it would be refused until linked.
        page.get_by_role("button", name="Link Corp SSO").click()
        expect(page.get_by_text("The identity provider is now linked to your account")).to_be_visible()
        expect(page.get_by_text(f"Corp SSO: linked ({email})")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("link", name="Sign in with Corp SSO").click()
        expect(page.get_by_role("heading", name=f"Welcome, {name}")).to_be_visible()
    finally:
        context.close()
    assert problems == []
