"""Signed, short-lived stream URLs, so a `<video src>` (which cannot send headers) can play a video.

`?uid=<user>&exp=<unix seconds>&sig=<base64url HMAC-SHA256>` over the video id, the user id, the
expiry and the quality (a rendition's or the poster's name; nothing for the original), keyed by a
key derived from SECRET_KEY (never the JWT key itself). The user id is bound so
that every request still checks that this user may watch: leaving the group ends the link at once.
Expiries are rounded up to a 5-minute step so repeated listings hand out the same URL and the
browser's media cache keeps working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import NamedTuple
from urllib.parse import urlencode

from app.errors import Forbidden

EXPIRY_STEP = 300
MAX_NUMBER_DIGITS = 19  # fits a BIGINT; longer is tampering, refused without parsing
INVALID_LINK = "This stream link is invalid or has expired"
ORIGINAL = "original"  # the uploaded file; renditions and the poster are signed with their name


class Link(NamedTuple):
    """The signed-URL query parameters of a stream request, as sent (unverified)."""

    uid: str | None
    exp: str | None
    sig: str | None

    @property
    def present(self) -> bool:
        return any(value is not None for value in self)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _number(text: str | None) -> int | None:
    if not text or len(text) > MAX_NUMBER_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)


class _Signer:
    """HMAC-SHA256 over a message, keyed by a key derived from SECRET_KEY for one purpose (never the
    JWT key itself), with expiries rounded up to EXPIRY_STEP."""

    def __init__(self, secret_key: str, ttl_seconds: int, purpose: bytes) -> None:
        self._key = hmac.digest(secret_key.encode(), purpose, "sha256")
        self.ttl = ttl_seconds

    def _mac(self, message: str) -> str:
        return _b64(hmac.digest(self._key, message.encode("ascii"), hashlib.sha256))

    def _expiry(self, now: float | None) -> int:
        moment = time.time() if now is None else now
        return -(-int(moment + self.ttl) // EXPIRY_STEP) * EXPIRY_STEP

    def _check(self, message: str, expires: int | None, sig: str | None, now: float | None) -> None:
        """Forbidden (403) unless `sig` signs `message` and `expires` is still ahead."""
        if expires is None or not sig:
            raise Forbidden(INVALID_LINK)
        valid = hmac.compare_digest(self._mac(message).encode("ascii"), sig.encode("utf-8", "replace"))
        if not valid or expires <= (time.time() if now is None else now):
            raise Forbidden(INVALID_LINK)


class StreamSigner(_Signer):
    def __init__(self, secret_key: str, ttl_seconds: int) -> None:
        super().__init__(secret_key, ttl_seconds, b"huddle stream url v1")

    @staticmethod
    def _message(video_id: int, user_id: int, expires: int, quality: str) -> str:
        # The original's message is unchanged, so links issued before renditions existed still work.
        bound = "" if quality == ORIGINAL else f":{quality}"
        return f"{video_id}:{user_id}:{expires}{bound}"

    def sign(
        self, video_id: int, user_id: int, now: float | None = None, quality: str = "original"
    ) -> tuple[str, int]:
        """The query string of a stream URL for this user (and quality), and its expiry (unix seconds)."""
        expires = self._expiry(now)
        signature = self._mac(self._message(video_id, user_id, expires, quality))
        return urlencode({"uid": user_id, "exp": expires, "sig": signature}), expires

    def verify(self, video_id: int, link: Link, now: float | None = None, quality: str = "original") -> int:
        """The user a valid, unexpired link was issued to (for this quality); Forbidden (403) otherwise."""
        user_id, expires = _number(link.uid), _number(link.exp)
        if user_id is None:
            raise Forbidden(INVALID_LINK)
        self._check(self._message(video_id, user_id, expires or 0, quality), expires, link.sig, now)
        return user_id

    def signs(self, video_id: int, link: Link, quality: str = "original") -> bool:
        try:
            self.verify(video_id, link, quality=quality)
        except Forbidden:
            return False
        return True


class AttachmentSigner(_Signer):
    """Signed, short-lived URLs of message attachments: `?exp=<unix seconds>&sig=<HMAC-SHA256>` over
    the attachment id, the variant (`file` or `thumbnail`) and the expiry.

    No user is bound: a message frame is encoded once for every member of the group, so its URLs
    cannot be per-recipient. Only members receive them, and they last ATTACHMENT_URL_TTL (rounded up
    to 5 minutes, so frames and history pages hand out the same URL and browsers cache the bytes).
    """

    def __init__(self, secret_key: str, ttl_seconds: int) -> None:
        super().__init__(secret_key, ttl_seconds, b"huddle attachment url v1")

    def sign(self, attachment_id: int, variant: str, now: float | None = None) -> tuple[str, int]:
        """The query string of a URL for this attachment (or its thumbnail), and its expiry."""
        expires = self._expiry(now)
        signature = self._mac(f"{attachment_id}:{variant}:{expires}")
        return urlencode({"exp": expires, "sig": signature}), expires

    def verify(
        self, attachment_id: int, variant: str, exp: str | None, sig: str | None, now: float | None = None
    ) -> None:
        """Forbidden (403) unless `exp`/`sig` are a valid, unexpired signature of this URL."""
        expires = _number(exp)
        self._check(f"{attachment_id}:{variant}:{expires or 0}", expires, sig, now)
