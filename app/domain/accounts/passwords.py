"""bcrypt password hashing, off the event loop.

Passwords are pre-hashed (SHA-256, base64) before bcrypt: bcrypt reads at most 72 bytes and stops at
NUL, and bcrypt >= 5 raises on longer input. The pre-hash keeps every character significant, makes
NUL and non-ASCII safe, and bounds bcrypt's input to 44 bytes.
"""

from __future__ import annotations

import base64
import hashlib

import anyio.to_thread
import bcrypt

PASSWORD_MIN = 8
PASSWORD_MAX = 1024  # code points; bounds the pre-hash work per request
# An account made by an identity provider has no password until its owner sets one: this is no
# bcrypt hash, so no password ever matches it.
NO_PASSWORD = "!"  # noqa: S105 -- a marker, not a secret


def has_password(hashed: str | None) -> bool:
    return bool(hashed) and hashed != NO_PASSWORD


def _prehash(password: str) -> bytes:
    # surrogatepass: a lone surrogate from JSON must not turn into a 500
    return base64.b64encode(hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest())


class PasswordHasher:
    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self._dummy: bytes | None = None

    def _hash(self, password: str) -> str:
        return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(self.rounds)).decode("ascii")

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hash, password)

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Check a password; with no hash (unknown user, or an account without a password) spend the
        same time on a dummy hash."""
        if not has_password(hashed):
            hashed = None
            if self._dummy is None:
                self._dummy = (await self.hash("dummy password for timing")).encode("ascii")
            target = self._dummy
        else:
            target = hashed.encode("ascii")  # type: ignore[union-attr]
        ok = await anyio.to_thread.run_sync(bcrypt.checkpw, _prehash(password), target)
        return ok and hashed is not None
