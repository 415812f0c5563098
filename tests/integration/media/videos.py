"""Helpers for the video API tests: small generated video files, groups, uploads, what storage holds."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from typing import Any

import httpx
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import ContainerClient

from app.config import Settings
from app.db.models.media import Attachment, Video
from app.server.app import runtime_of
from tests.conftest import AppClient
from tests.helpers import Account, register

KiB = 1024


def mp4(size: int, seed: int = 0) -> bytes:
    """`size` bytes that start like an MP4 file (an `ftyp` box), random after that."""
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    return (head + random.Random(seed).randbytes(size))[:size]


def webm(size: int, seed: int = 0) -> bytes:
    head = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"
    return (head + random.Random(seed).randbytes(size))[:size]


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


async def new_group(client: AppClient, owner: Account, name: str = "Movie night") -> int:
    response = await client.post("/api/v1/groups", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def add_member(client: AppClient, admin: Account, group_id: int, member: Account) -> None:
    response = await client.post(
        f"/api/v1/groups/{group_id}/members", json={"email": member.email}, headers=admin.headers
    )
    assert response.status_code == 201, response.text


async def group_with_owner(client: AppClient) -> tuple[Account, int]:
    owner = await register(client, "Owner")
    return owner, await new_group(client, owner)


async def upload(
    client: AppClient,
    who: Account,
    group_id: int,
    data: bytes,
    filename: str = "clip.mp4",
    *,
    status: int = 201,
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/groups/{group_id}/videos",
        files={"file": (filename, data, "application/octet-stream")},
        headers=who.headers,
    )
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def leftover_blobs(settings: Settings) -> list[str]:
    """Every blob and every staged-but-uncommitted upload the app's store holds."""
    if settings.azure_storage_connection_string:
        container = ContainerClient.from_connection_string(
            settings.azure_storage_connection_string, settings.azure_container_name
        )
        async with container:
            names: list[str] = []
            with contextlib.suppress(ResourceNotFoundError):  # never written to: no container yet
                names.extend([blob.name async for blob in container.list_blobs(include=["uncommittedblobs"])])
            return names
    root = Path(settings.media_dir)
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def stream_path(video: dict[str, Any]) -> str:
    return f"/api/v1/videos/{video['id']}/stream"


async def fetch(client: httpx.AsyncClient, url: str, **headers: str) -> httpx.Response:
    return await client.get(url, headers=headers)


async def blob_key_of(client: AppClient, model: type[Video] | type[Attachment], row_id: int) -> str:
    """The blob key a video's or attachment's signed links are bound to (never shown by the API)."""
    async with runtime_of(client.app).sessions() as db:
        row = await db.get(model, row_id)
        assert row is not None
        return row.blob_key
