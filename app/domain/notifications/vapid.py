"""The application server's VAPID key (RFC 8292): VAPID_PRIVATE_KEY, or in development one generated
once into `var/vapid_private_key` (race-free, as the secret key in app/config.py), so restarts and
workers sign with the same key and browsers' subscriptions stay valid."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

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


def _embedded_key(path: Path) -> str:
    """The key in `path`, written once. Workers start together: a key is written whole to a file of
    this process's and then linked into place, which fails if another got there first, so nobody
    reads a half-written key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        mine = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_private_key())
        try:
            os.link(mine, path)
        except FileExistsError:
            pass  # another worker's key is in place: everyone uses that one
        finally:
            mine.unlink(missing_ok=True)
    return path.read_text().strip()


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
        raw = _embedded_key(settings.var_dir / "vapid_private_key")
    vapid = Vapid02.from_raw(raw.encode())
    point = vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return VapidKey(vapid=vapid, public_key=b64url(point))
