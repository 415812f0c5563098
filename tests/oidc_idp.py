"""A real OpenID Provider for the sign-in-with-SSO tests: `tests/oidc_idp.mjs`, which runs
`oidc-provider` (npm, installed by `npm ci` from the committed package-lock.json) on a free loopback
port. Missing Node.js or oidc-provider skips those tests with the reason, or fails them under
HUDDLE_REQUIRE_SERVICES=1.

The test writes the provider's signing key, so it can also sign ID tokens the provider would never
issue (wrong audience, expired, wrong nonce) and have the provider hand them out at its token endpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.process import free_port
from tests.services import unavailable

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "oidc_idp.mjs"
CLIENT_ID = "huddle-test"
CLIENT_SECRET = "huddle-test-client-secret-0123456789"
APP_BASE = "http://testserver"  # the in-process app's base URL (tests/conftest.py)
PROVIDER = "corp"
REDIRECT_URI = f"{APP_BASE}/api/v1/auth/oidc/{PROVIDER}/callback"


def new_key(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    """An RSA key and its private JWK (with `kid`, `alg`, `use`)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    jwk |= {"kid": kid, "alg": "RS256", "use": "sig"}
    return key, jwk


def public_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: jwk[name] for name in ("kty", "n", "e", "kid", "alg", "use")}


@dataclass
class Idp:
    issuer: str
    key: rsa.RSAPrivateKey  # the provider's own signing key
    kid: str

    @property
    def env(self) -> dict[str, str]:
        """Huddle's configuration for this provider."""
        return {
            "OIDC_PROVIDERS": PROVIDER,
            "OIDC_CORP_ISSUER": self.issuer,
            "OIDC_CORP_CLIENT_ID": CLIENT_ID,
            "OIDC_CORP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_CORP_NAME": "Corp SSO",
        }

    def add_account(self, email: str, *, verified: bool = True, name: str = "SSO User") -> str:
        """A user at the provider; returns its subject."""
        sub = f"user-{uuid.uuid4().hex[:12]}"
        body = {"email": email, "email_verified": verified, "name": name}
        httpx.put(f"{self.issuer}/__test/accounts/{sub}", json=body, timeout=10).raise_for_status()
        return sub

    def sign(
        self, claims: dict[str, Any], *, key: Any = None, kid: str | None = None, alg: str = "RS256"
    ) -> str:
        """An ID token: by default the provider's own key, with its standard claims filled in."""
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300} | claims
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, key or self.key, algorithm=alg, headers={"kid": kid or self.kid})

    def browser_account(self, sub: str) -> None:
        """Who a real browser signs in as (it follows the provider's pages without an `account`)."""
        httpx.post(f"{self.issuer}/__test/default-account", json={"sub": sub}, timeout=10).raise_for_status()

    def next_id_token(self, token: str) -> None:
        """The provider's next token response carries this ID token instead of its own."""
        httpx.post(
            f"{self.issuer}/__test/next-id-token", json={"id_token": token}, timeout=10
        ).raise_for_status()

    def publish_keys(self, keys: list[dict[str, Any]]) -> None:
        """Public keys the provider's JWKS lists besides its own (a rotation)."""
        httpx.post(f"{self.issuer}/__test/extra-keys", json={"keys": keys}, timeout=10).raise_for_status()

    def authorize(self, url: str, account: str | None, *, deny: bool = False) -> str:
        """Go through the provider's pages as that account's browser would (consenting, or denying);
        return the URL it sends the browser back to (Huddle's callback)."""
        with httpx.Client(timeout=15) as browser:
            for _ in range(12):
                parts = urlsplit(url)
                if f"{parts.scheme}://{parts.netloc}" != self.issuer:
                    return url
                if parts.path.startswith("/interaction/"):
                    url += ("&" if parts.query else "?") + ("deny=1" if deny else f"account={account}")
                response = browser.get(url)
                if response.status_code not in (302, 303):
                    raise AssertionError(
                        f"the provider answered {response.status_code}: {response.text[:500]}"
                    )
                url = str(response.url.join(response.headers["location"]))
        raise AssertionError("too many redirects at the provider")


def authorize_query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def find_node() -> str | None:
    return shutil.which("node")


@contextmanager
def oidc_idp(
    workdir: Path, timeout: float = 30, redirect_uris: tuple[str, ...] = (REDIRECT_URI,)
) -> Iterator[Idp]:
    node = find_node()
    if node is None:
        unavailable("Node.js (`node`) not found; the OIDC tests run oidc-provider on it")
    if not (REPO / "node_modules" / "oidc-provider" / "package.json").exists():
        unavailable("oidc-provider not installed: run `npm ci` (needs Node.js and npm)")
    key, jwk = new_key("idp-key-1")
    jwks_file = workdir / "idp-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk]}))
    jwks_file.chmod(0o600)
    port = free_port()
    log = workdir / "idp.log"
    env = os.environ | {
        "PORT": str(port),
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "REDIRECT_URIS": ",".join(redirect_uris),
        "JWKS_FILE": str(jwks_file),
        "NODE_NO_WARNINGS": "1",
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while b"ready" not in log.read_bytes():
            if process.poll() is not None:
                unavailable(
                    f"oidc-provider exited with {process.returncode}: {log.read_text(errors='replace')}"
                )
            if time.monotonic() > deadline:
                unavailable(f"oidc-provider not ready after {timeout}s: {log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield Idp(issuer=issuer, key=key, kid=jwk["kid"])
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # its own process group: only what we started
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
