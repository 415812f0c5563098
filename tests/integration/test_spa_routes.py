"""The SPA's routes: the shell at `/` and client-side routes, its static files, and the strict
Content-Security-Policy on all of them (no inline script or style anywhere in the shipped files)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from app.config import Settings
from app.server.spa import CONTENT_SECURITY_POLICY, STATIC_DIR
from tests.conftest import AppClient

pytestmark = pytest.mark.anyio

SHELL_PATHS = ["/", "/signin", "/signup", "/settings", "/mentions", "/g/42"]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("path", [*SHELL_PATHS, "/static/js/main.js", "/static/css/app.css"])
async def test_spa_responses_carry_the_strict_policy(client: AppClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in policy.split("; ")
    assert "unsafe" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert "etag" in response.headers


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_client_routes_serve_the_shell(client: AppClient) -> None:
    shell = (await client.get("/")).text
    assert '<script type="module" src="/static/js/main.js"></script>' in shell
    for path in SHELL_PATHS[1:]:
        response = await client.get(path)
        assert response.text == shell
        assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert (await client.head("/g/42")).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_the_shell_names_the_servers_realtime_transport(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings], transport: str
) -> None:
    """REALTIME_TRANSPORT reaches the app as a meta tag (realtime.js reads it), and the shell is
    still revalidated by its ETag."""
    client = await make_client(make_settings(realtime_transport=transport))
    shell = await client.get("/g/7")
    assert f'<meta name="huddle-transport" content="{transport}">' in shell.text
    assert shell.text.count("huddle-transport") == 1
    again = await client.get("/", headers={"If-None-Match": shell.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_unknown_paths_stay_json_errors(client: AppClient) -> None:
    missing = await client.get("/static/js/missing.js")
    assert missing.status_code == 404
    assert "content-security-policy" in missing.headers or missing.json()["code"] == "not_found"
    api = await client.get("/api/v1/nope")
    assert api.status_code == 404
    assert api.json()["code"] == "not_found"
    assert (await client.get("/g/not-a-number")).status_code == 404


def test_shipped_files_have_no_inline_script_or_style() -> None:
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script> in index.html"
    assert "<style" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler in index.html"
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in {".html", ".js"}:
            text = path.read_text()
            assert " style=" not in text, path
            assert "innerHTML" not in text, path  # user text goes through textContent only
            assert "eval(" not in text, path
