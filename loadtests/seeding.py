"""Test data for the load drivers: a video-shaped file, uploaded through the API like a user would."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx

# An ISO base media `ftyp` box, so the upload passes the magic-byte check; the rest is random bytes,
# which no stream endpoint ever decodes.
FTYP = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def fake_video(path: Path, size: int) -> None:
    """Write `size` bytes starting with an MP4 signature (kept when it already has that size)."""
    if path.exists() and path.stat().st_size == size:
        return
    with path.open("wb") as handle:
        handle.write(FTYP)
        left = size - len(FTYP)
        while left > 0:
            block = os.urandom(min(left, 1 << 20))
            handle.write(block)
            left -= len(block)


def sign_up(http: httpx.Client, label: str) -> dict[str, str]:
    """Register a fresh user through the seed's contract; its bearer headers."""
    email = f"{label}-{uuid.uuid4().hex[:8]}@example.com"
    account = {"email": email, "name": label.title(), "password": f"{label}-password-1"}
    http.post("/register", json=account).raise_for_status()
    form = {"username": email, "password": account["password"]}
    token = http.post("/token", data=form).raise_for_status().json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def upload_video(base: str, path: Path, auth: dict[str, str] | None = None) -> str:
    """Upload `path` to a new group of the user with these headers (a newly registered one by
    default) through the API; its signed stream URL (a path)."""
    with httpx.Client(base_url=base, timeout=600) as http:
        auth = auth or sign_up(http, "range")
        group = http.post("/groups", json={"name": f"range-{uuid.uuid4().hex[:8]}"}, headers=auth)
        with path.open("rb") as handle:
            video = http.post(
                f"/api/v1/groups/{group.raise_for_status().json()['id']}/videos",
                files={"file": (path.name, handle, "video/mp4")},
                headers=auth,
            ).raise_for_status()
    stream_url: str = video.json()["stream_url"]
    return stream_url
