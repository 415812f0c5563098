"""The application server's VAPID key (RFC 8292): VAPID_PRIVATE_KEY, or in development one generated
once into `var/vapid_private_key` (race-free, as the secret key in app/config.py), so restarts and
workers sign with the same key and browsers' subscriptions stay valid."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02

from app.config import Settings


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_private_key() -> str:
    """A fresh P-256 private key as VAPID_PRIVATE_KEY takes it: the base64url of its raw 32 bytes."""
    value = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return b64url(value.to_bytes(32, "big"))


@dataclass(frozen=True)
class VapidKey:
    vapid: Vapid02
    public_key: str  # base64url of the uncompressed point: the browser's applicationServerKey


def vapid_key(settings: Settings) -> VapidKey | None:
    """The configured key, else the embedded one (created on first use); None in production
    without VAPID_PRIVATE_KEY: Web Push is off."""
    raw = settings.vapid_private_key
    if not raw:
        if settings.environment == "production":
            return None
        path = settings.var_dir / "vapid_private_key"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raw = path.read_text().strip()
        else:
            raw = new_private_key()
            with os.fdopen(fd, "w") as handle:
                handle.write(raw)
    vapid = Vapid02.from_raw(raw.encode())
    point = vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return VapidKey(vapid=vapid, public_key=b64url(point))
