"""OpenID Connect relying party: sign in with an identity provider (issue 29).

Authorization code flow with PKCE (S256). The browser carries the flow's secrets (`state`, `nonce`,
the PKCE verifier, where to return) in a short-lived, signed, HttpOnly cookie scoped to the OIDC
paths, so any worker or replica can finish a flow another one started; each flow finishes once (its
id is claimed in the shared state). The ID token is verified with PyJWT against the provider's JWKS,
fetched again when a token names a key not seen yet (rotation): signature, algorithm (asymmetric
only, never `none` nor an HMAC keyed by the client secret), `iss`, `aud` (and `azp`), `exp`, `iat`,
`nonce`. No crypto is written here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
import httpx
import jwt
import msgspec

from app.config import OidcProvider, Settings
from app.db.models.accounts import EMAIL_MAX, NAME_MAX
from app.domain.patterns import EMAIL
from app.errors import AppError, BadRequest, ServiceUnavailable

# Asymmetric algorithms only: an HMAC would be keyed by the client secret (anyone holding it could
# mint tokens), and `none` is no signature at all.
ALLOWED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
FLOW_SECONDS = 600  # from "Sign in with ..." to the callback: the cookie's and the flow's lifetime
EXCHANGE_SECONDS = 60  # the one-time code the SPA swaps for tokens after the callback
LEEWAY_SECONDS = 30  # clock skew between Huddle and the provider
MAX_ID_TOKEN_AGE = FLOW_SECONDS  # an ID token issued longer ago than a whole flow is refused
DISCOVERY_TTL = 3600.0
JWKS_REFRESH_INTERVAL = 10.0  # a token naming an unknown key refetches the JWKS at most this often
HTTP_TIMEOUT = 10.0
STATE_COOKIE = "huddle_oidc"
COOKIE_PATH = "/api/v1/auth/oidc"
RETURN_MAX = 512


class OidcFailed(AppError):
    """A refused sign-in. `code` is stable and names the reason; the SPA says it in words."""

    status_code = 400
    code = "oidc_failed"

    def __init__(self, reason: str, detail: str, status_code: int = 400) -> None:
        super().__init__(detail, extra={"reason": reason})
        self.reason = reason
        self.status_code = status_code  # type: ignore[misc]


class Discovery(msgspec.Struct, frozen=True):
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    id_token_signing_alg_values_supported: list[str] = msgspec.field(default_factory=lambda: ["RS256"])
    code_challenge_methods_supported: list[str] | None = None


class IdClaims(msgspec.Struct, frozen=True):
    """What Huddle uses of a verified ID token."""

    sub: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    email: str | None = None
    # Some providers (Amazon Cognito) send the string "true"; anything but true is unverified.
    email_verified: bool | str | None = None
    name: str | None = None
    preferred_username: str | None = None

    @property
    def verified_email(self) -> str | None:
        """The email, when the provider vouches for it and it is a plausible address."""
        if self.email_verified not in (True, "true") or not self.email:
            return None
        email = self.email.strip().lower()
        if len(email) > EMAIL_MAX or not re.match(EMAIL, email):
            return None
        return email

    @property
    def display_name(self) -> str:
        raw = self.name or self.preferred_username or ""
        return "".join(ch for ch in raw if ch.isprintable()).strip()[:NAME_MAX]


class FlowState(msgspec.Struct, frozen=True):
    """The cookie's content, signed: one flow of one browser."""

    jti: str
    provider: str
    state: str
    nonce: str
    verifier: str
    return_to: str
    link_user: int | None  # a signed-in user linking this provider to their account
    exp: int


def safe_return_path(value: str | None) -> str:
    """Where to land after signing in: a path of this site only, never another origin (open
    redirect). `//evil.example`, `/\\evil.example`, `https://...` and control characters are refused."""
    if not value:
        return "/"
    if (
        len(value) > RETURN_MAX
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ch in value for ch in "\\\r\n\t")
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    ):
        raise BadRequest("return_to must be a path on this site, like /g/12")
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)), no padding."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


class FlowCodec:
    """Signs the flow cookie and the exchange code with a key derived from SECRET_KEY (so neither
    can stand in for a Huddle access token)."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"huddle oidc flow v1", hashlib.sha256).digest()

    def seal(self, kind: str, payload: dict[str, Any], lifetime: int) -> str:
        now = int(time.time())
        claims = {**payload, "kind": kind, "iat": now, "exp": now + lifetime}
        return jwt.encode(claims, self._key, algorithm="HS256")

    def open(self, kind: str, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._key, algorithms=["HS256"], options={"require": ["exp", "iat", "kind"]}
            )
        except jwt.ExpiredSignatureError:
            raise OidcFailed("expired", "The sign-in took too long; start again") from None
        except jwt.InvalidTokenError:
            raise OidcFailed("bad_state", "The sign-in could not be verified; start again") from None
        if claims.get("kind") != kind:
            raise OidcFailed("bad_state", "The sign-in could not be verified; start again")
        return claims


class RelyingParty:
    """One provider: discovery, the authorization URL, the code exchange, ID token verification."""

    def __init__(self, provider: OidcProvider, http: httpx.AsyncClient) -> None:
        self.provider = provider
        self.http = http
        self._discovery: Discovery | None = None
        self._discovered_at = 0.0
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_at = 0.0
        self._lock = anyio.Lock()
        self.jwks_refresh_interval = JWKS_REFRESH_INTERVAL

    @property
    def name(self) -> str:
        return self.provider.name

    async def _get_json(self, url: str, what: str) -> Any:
        try:
            response = await self.http.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            return msgspec.json.decode(response.content)
        except (httpx.HTTPError, msgspec.DecodeError) as error:
            raise ServiceUnavailable(f"The identity provider's {what} is unavailable: {error}") from None

    async def discovery(self) -> Discovery:
        if self._discovery is not None and time.monotonic() - self._discovered_at < DISCOVERY_TTL:
            return self._discovery
        url = self.provider.issuer + "/.well-known/openid-configuration"
        try:
            found = msgspec.convert(await self._get_json(url, "discovery document"), Discovery)
        except msgspec.ValidationError as error:
            raise ServiceUnavailable(
                f"The identity provider's discovery document is invalid: {error}"
            ) from None
        if found.issuer.rstrip("/") != self.provider.issuer:  # OIDC Discovery 1.0, section 4.3
            raise ServiceUnavailable("The identity provider's discovery document names another issuer")
        self._discovery, self._discovered_at = found, time.monotonic()
        return found

    def algorithms(self, discovery: Discovery) -> list[str]:
        return [alg for alg in discovery.id_token_signing_alg_values_supported if alg in ALLOWED_ALGORITHMS]

    async def authorization_url(self, redirect_uri: str, state: str, nonce: str, challenge: str) -> str:
        discovery = await self.discovery()
        query = {
            "response_type": "code",
            "client_id": self.provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.provider.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        separator = "&" if "?" in discovery.authorization_endpoint else "?"
        return discovery.authorization_endpoint + separator + urlencode(query)

    async def exchange(self, code: str, redirect_uri: str, verifier: str) -> str:
        """The code for the ID token, at the token endpoint (client authenticated when it has a
        secret). A code used before, or made for another client or redirect URI, is refused there."""
        discovery = await self.discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": self.provider.client_id,
        }
        headers = {"accept": "application/json"}
        try:
            if self.provider.client_secret:  # client_secret_basic
                auth = httpx.BasicAuth(self.provider.client_id, self.provider.client_secret)
                response = await self.http.post(
                    discovery.token_endpoint, data=form, auth=auth, headers=headers
                )
            else:  # a public client: PKCE alone
                response = await self.http.post(discovery.token_endpoint, data=form, headers=headers)
        except httpx.HTTPError as error:
            raise ServiceUnavailable(
                f"The identity provider's token endpoint is unavailable: {error}"
            ) from None
        try:
            body = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            body = None
        if response.status_code >= 500 or not isinstance(body, dict):
            raise ServiceUnavailable(
                f"The identity provider's token endpoint answered {response.status_code}"
            )
        if response.status_code != 200 or "error" in body:
            raise OidcFailed(
                "code_refused",
                f"The identity provider refused the sign-in code ({body.get('error', response.status_code)})",
            )
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise OidcFailed("bad_id_token", "The identity provider sent no ID token")
        return id_token

    async def _signing_key(self, kid: str | None, discovery: Discovery) -> jwt.PyJWK:
        """The JWKS key the token names; an unknown one refetches the JWKS (the provider rotated)."""
        for attempt in range(2):
            async with self._lock:
                stale = time.monotonic() - self._jwks_at >= self.jwks_refresh_interval
                if self._jwks is None or (attempt and stale):
                    raw = await self._get_json(discovery.jwks_uri, "key set (JWKS)")
                    try:
                        self._jwks = jwt.PyJWKSet.from_dict(raw)
                    except jwt.PyJWTError as error:
                        raise ServiceUnavailable(
                            f"The identity provider's JWKS is unusable: {error}"
                        ) from None
                    self._jwks_at = time.monotonic()
                keys = [key for key in self._jwks.keys if key.public_key_use in (None, "sig")]
            matching = [key for key in keys if kid is None or key.key_id == kid]
            if len(matching) == 1 or (kid is not None and matching):
                return matching[0]
            if kid is None:
                break  # several keys and the token names none: ambiguous
        raise OidcFailed(
            "bad_id_token", "The ID token is signed by a key the identity provider does not publish"
        )

    async def verify(self, id_token: str, nonce: str) -> IdClaims:
        discovery = await self.discovery()
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OidcFailed("bad_id_token", "The ID token is malformed") from None
        algorithm = header.get("alg")
        allowed = self.algorithms(discovery)
        if algorithm not in allowed:
            raise OidcFailed("bad_id_token", f"The ID token's algorithm {algorithm!r} is not accepted")
        key = await self._signing_key(header.get("kid"), discovery)
        try:
            claims = jwt.decode(
                id_token,
                key,
                algorithms=[algorithm],
                audience=self.provider.client_id,
                issuer=self.provider.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "sub", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise OidcFailed("bad_id_token", "The ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise OidcFailed("bad_id_token", "The ID token was issued to another application") from None
        except jwt.InvalidIssuerError:
            raise OidcFailed("bad_id_token", "The ID token was issued by another provider") from None
        except jwt.PyJWTError as error:
            raise OidcFailed("bad_id_token", f"The ID token is invalid: {error}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.provider.client_id:
            raise OidcFailed("bad_id_token", "The ID token was issued to another application")
        iat = claims["iat"]
        if not isinstance(iat, int | float) or iat < time.time() - MAX_ID_TOKEN_AGE - LEEWAY_SECONDS:
            raise OidcFailed("bad_id_token", "The ID token was issued too long ago")
        presented = claims.get("nonce")
        if not isinstance(presented, str) or not hmac.compare_digest(presented.encode(), nonce.encode()):
            raise OidcFailed("bad_id_token", "The ID token was not made for this sign-in (nonce)")
        try:
            return msgspec.convert(claims, IdClaims)
        except msgspec.ValidationError as error:
            raise OidcFailed("bad_id_token", f"The ID token's claims are invalid: {error}") from None


class Oidc:
    """Every configured provider of this worker, sharing one HTTP client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.codec = FlowCodec(settings.secret_key)
        self._http: httpx.AsyncClient | None = None
        self.providers: dict[str, RelyingParty] = {}
        if settings.oidc_providers:
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
            self.providers = {p.key: RelyingParty(p, self._http) for p in settings.oidc_providers}

    def get(self, key: str) -> RelyingParty:
        party = self.providers.get(key)
        if party is None:
            raise OidcFailed("unknown_provider", f"No identity provider is called {key!r}", status_code=404)
        return party

    def start(self, key: str, return_to: str, link_user: int | None) -> tuple[FlowState, str]:
        """A new flow: its state (for the authorization URL) and the sealed cookie value."""
        verifier = secrets.token_urlsafe(48)  # 64 characters, within RFC 7636's 43..128
        flow = FlowState(
            jti=uuid.uuid4().hex,
            provider=key,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=verifier,
            return_to=return_to,
            link_user=link_user,
            exp=int(time.time()) + FLOW_SECONDS,
        )
        payload = msgspec.to_builtins(flow)
        del payload["exp"]
        return flow, self.codec.seal("oidc_flow", payload, FLOW_SECONDS)

    def resume(self, key: str, cookie: str | None, state: str | None) -> FlowState:
        """The flow this callback belongs to: the browser's cookie, for this provider, with the same
        `state` the provider sent back."""
        if not cookie:
            raise OidcFailed("no_flow", "This browser did not start the sign-in (or it expired); start again")
        try:
            flow = msgspec.convert(self.codec.open("oidc_flow", cookie), FlowState)
        except msgspec.ValidationError:
            raise OidcFailed("bad_state", "The sign-in could not be verified; start again") from None
        if (
            flow.provider != key
            or not state
            or not hmac.compare_digest(flow.state.encode(), state.encode("utf-8", "surrogatepass"))
        ):
            raise OidcFailed("bad_state", "The sign-in's state does not match this browser's; start again")
        return flow

    def challenge(self, flow: FlowState) -> str:
        return pkce_challenge(flow.verifier)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
