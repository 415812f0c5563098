"""Signed, short-lived stream URLs, so a `<video src>` (which cannot send headers) can play a video.

`?uid=<user>&exp=<unix seconds>&sig=<base64url HMAC-SHA256>` over the video id, the user id, the
expiry, the quality (a rendition's or the poster's name; nothing for the original) and the video's
blob key, keyed by a key derived from SECRET_KEY (never the JWT key itself). The user id is bound so
that every request still checks that this user may watch: leaving the group ends the link at once.
The blob key (a UUID, never reused) is bound so that a link can only ever serve the file it was made
for, even where a database hands a deleted row's id to a new one.
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

    def expiry(self, now: float | None = None) -> int:
        """The expiry of a URL signed now: rounded up, so URLs signed within one step are the same."""
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
    def _message(video_id: int, user_id: int, expires: int, quality: str, key: str) -> str:
        bound = "" if quality == ORIGINAL else f":{quality}"
        return f"{video_id}:{user_id}:{expires}{bound}:{key}"

    def sign(
        self, video_id: int, user_id: int, *, key: str, now: float | None = None, quality: str = ORIGINAL
    ) -> tuple[str, int]:
        """The query string of a stream URL for this user (and quality) of the video stored under
        `key` (the original's blob key, whatever the quality), and its expiry (unix seconds)."""
        expires = self.expiry(now)
        signature = self._mac(self._message(video_id, user_id, expires, quality, key))
        return urlencode({"uid": user_id, "exp": expires, "sig": signature}), expires

    @staticmethod
    def claimed_user(link: Link) -> int:
        """The user a link names, unverified (to look the video up before `verify`); 403 when malformed."""
        user_id = _number(link.uid)
        if user_id is None:
            raise Forbidden(INVALID_LINK)
        return user_id

    def verify(
        self, video_id: int, link: Link, *, key: str, now: float | None = None, quality: str = ORIGINAL
    ) -> int:
        """The user a valid, unexpired link was issued to (for this quality of the video stored under
        `key`); Forbidden (403) otherwise."""
        user_id, expires = self.claimed_user(link), _number(link.exp)
        self._check(self._message(video_id, user_id, expires or 0, quality, key), expires, link.sig, now)
        return user_id

    def signs(self, video_id: int, link: Link, *, key: str, quality: str = ORIGINAL) -> bool:
        try:
            self.verify(video_id, link, key=key, quality=quality)
        except Forbidden:
            return False
        return True


class AttachmentSigner(_Signer):
    """Signed, short-lived URLs of message attachments: `?exp=<unix seconds>&sig=<HMAC-SHA256>` over
    the attachment id, the variant (`file` or `thumbnail`), the expiry and the blob key (a UUID, never
    reused), so a link serves only the file it was made for even if its id is given to another row.

    Messages sent before keys were bound keep snapshots without one: their links are signed without
    it (`key=None`) and still accepted, which is safe only because ids are no longer reused
    (sqlite_autoincrement; PostgreSQL identities never were).

    No user is bound: a message frame is encoded once for every member of the group, so its URLs
    cannot be per-recipient. Only members receive them, and they last ATTACHMENT_URL_TTL (rounded up
    to 5 minutes, so frames and history pages hand out the same URL and browsers cache the bytes).
    """

    def __init__(self, secret_key: str, ttl_seconds: int) -> None:
        super().__init__(secret_key, ttl_seconds, b"huddle attachment url v1")

    @staticmethod
    def _message(attachment_id: int, variant: str, expires: int, key: str | None) -> str:
        return f"{attachment_id}:{variant}:{expires}" + ("" if key is None else f":{key}")

    def sign(
        self, attachment_id: int, variant: str, *, key: str | None, now: float | None = None
    ) -> tuple[str, int]:
        """The query string of a URL for this attachment (or its thumbnail), stored under `key`, and
        its expiry."""
        expires = self.expiry(now)
        signature = self._mac(self._message(attachment_id, variant, expires, key))
        return urlencode({"exp": expires, "sig": signature}), expires

    def verify(
        self,
        attachment_id: int,
        variant: str,
        exp: str | None,
        sig: str | None,
        *,
        key: str,
        now: float | None = None,
    ) -> None:
        """Forbidden (403) unless `exp`/`sig` are a valid, unexpired signature of this URL for the file
        stored under `key` (or a key-less one from an older message's snapshot)."""
        expires = _number(exp)
        try:
            self._check(self._message(attachment_id, variant, expires or 0, key), expires, sig, now)
        except Forbidden:
            self._check(self._message(attachment_id, variant, expires or 0, None), expires, sig, now)
