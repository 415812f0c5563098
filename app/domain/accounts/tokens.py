"""JWTs (PyJWT) for access, refresh and WebSocket tickets.

The algorithm is pinned, `exp`/`iat`/`nbf`/`jti` are required, and a `kind` claim keeps the three token
kinds from standing in for each other. Every token names its sign-in session (`sid`).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Literal

import jwt
import msgspec

from app.errors import Unauthorized

TokenKind = Literal["access", "refresh", "ticket"]
LEEWAY_SECONDS = 10
# Access tokens whose signature a worker remembers having verified (~0.5 KiB each): its signed-in clients.
VERIFIED_TOKENS = 2048
_REQUIRED = ["exp", "iat", "nbf", "jti", "sub", "sid", "kind"]


class Claims(msgspec.Struct, frozen=True):
    sub: str
    sid: str
    jti: str
    kind: str
    exp: int
    iat: int

    @property
    def user_id(self) -> int:
        return int(self.sub)


class IssuedToken(msgspec.Struct, frozen=True):
    token: str
    jti: str
    expires_in: int


class TokenCodec:
    def __init__(self, secret: str, algorithm: str, lifetimes: dict[TokenKind, int]) -> None:
        self._key = secret.encode("utf-8")
        self._algorithm = algorithm
        self._lifetimes = lifetimes
        self._verified: dict[str, Claims] = {}

    def issue(
        self, kind: TokenKind, user_id: int, session_id: uuid.UUID, jti: str | None = None
    ) -> IssuedToken:
        now = dt.datetime.now(dt.UTC)
        lifetime = self._lifetimes[kind]
        jti = jti or uuid.uuid4().hex
        payload = {
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": jti,
            "kind": kind,
            "iat": now,
            "nbf": now,
            "exp": now + dt.timedelta(seconds=lifetime),
        }
        return IssuedToken(jwt.encode(payload, self._key, algorithm=self._algorithm), jti, lifetime)

    def decode(self, token: str, kind: TokenKind) -> Claims:
        """Verify signature, algorithm, times and kind; any failure is a 401, never a 500. An access
        token verified before is not verified again until it expires (its exact text is the key, so
        no other text matches it): every request of a signed-in client carries the same one. Refresh
        tokens and tickets are used once each, so they are not kept."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if claims.kind == "access":
                if len(self._verified) >= VERIFIED_TOKENS:
                    del self._verified[next(iter(self._verified))]  # the oldest
                self._verified[token] = claims
        elif claims.exp + LEEWAY_SECONDS < time.time():
            del self._verified[token]
            raise Unauthorized("Token has expired")
        if claims.kind != kind:
            raise Unauthorized("Invalid token")
        return claims

    def _verify(self, token: str) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                leeway=LEEWAY_SECONDS,
                options={"require": _REQUIRED},
            )
            claims = msgspec.convert(payload, Claims)
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Token has expired") from None
        except (jwt.InvalidTokenError, msgspec.ValidationError):
            raise Unauthorized("Invalid token") from None
        if not claims.sub.isdigit():
            raise Unauthorized("Invalid token")
        try:
            uuid.UUID(claims.sid)
        except ValueError:
            raise Unauthorized("Invalid token") from None
        return claims
