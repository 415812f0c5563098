"""Azure Blob Storage (a private Azurite) stops during an upload and during a stream: requests answer
503 with Retry-After instead of hanging in the SDK's retries, a reading stream ends with an error
instead of stalling, and once the storage is back the upload resumes and completes with no blob
left behind and every video streams whole again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import AzureError

from app.config import Settings
from app.db.models.media import Video
from app.server.app import runtime_of
from tests.azurite import azurite, connection_string
from tests.conftest import AppClient
from tests.integration.media.test_resumable import CHUNK, pieces, put, start
from tests.integration.media.videos import group_with_owner, leftover_blobs, mp4, upload
from tests.process import free_port

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the database is not what fails here


@pytest.fixture
def outage(make_settings: Callable[..., Settings], tmp_path: Path) -> tuple[Settings, Path, int]:
    """Settings for an Azurite on a port of our own, which the test stops and starts."""
    port = free_port()
    settings = make_settings(
        azure_storage_connection_string=connection_string(port),
        azure_container_name="outage",
        upload_chunk_min_bytes=1024,
        upload_sweep_interval_seconds=3600.0,
    )
    return settings, tmp_path / "azurite", port


async def test_azure_down_mid_upload_and_mid_stream(
    outage: tuple[Settings, Path, int], make_client: Callable[[Settings], Any]
) -> None:
    settings, folder, port = outage
    data = mp4(5 * CHUNK + 17, seed=9)
    parts = pieces(data)
    with azurite(folder, port=port):
        client: AppClient = await make_client(settings)
        owner, gid = await group_with_owner(client)
        film = mp4(9 * MiB, seed=4)  # three reads of the SDK's chunk size: a stream in several parts
        video = await upload(client, owner, gid, film, "long.mp4")
        session = await start(client, owner, gid, len(data))
        assert (await put(client, owner, session["id"], 0, parts[0])).status_code == 200
        reader = runtime_of(client.app).blobs.read(await _blob_key(client, video["id"]), 0, len(film))
        first = await reader.__anext__()
        assert first == film[: len(first)]

    # Storage is down: the stream being read ends with an error, new requests get a quick 503.
    async with aclosing(reader):
        with pytest.raises(AzureError):
            await _drain(reader)
    chunk = await put(client, owner, session["id"], 1, parts[1])
    assert chunk.status_code == 503, chunk.text
    assert chunk.headers["retry-after"]
    streamed = await client.get(video["stream_url"], headers={"range": "bytes=0-99"})
    assert streamed.status_code == 503, streamed.text
    status = await client.get(f"/api/v1/uploads/{session['id']}", headers=owner.headers)
    assert status.json()["received"] == [0]  # the failed chunk was not recorded

    # Storage is back (same folder, same port): the upload resumes where it stopped.
    with azurite(folder, port=port):
        for index in range(1, len(parts)):
            assert (await put(client, owner, session["id"], index, parts[index])).status_code == 200
        done = await client.post(f"/api/v1/uploads/{session['id']}/complete", headers=owner.headers)
        assert done.status_code == 201, done.text
        second = done.json()
        assert (await client.get(second["stream_url"])).content == data
        assert (await client.get(video["stream_url"])).content == film
        assert sorted(await leftover_blobs(settings)) == sorted(
            [await _blob_key(client, video["id"]), await _blob_key(client, second["id"])]
        )


async def _blob_key(client: AppClient, video_id: int) -> str:
    async with runtime_of(client.app).sessions() as db:
        found = await db.get(Video, video_id)
        assert found is not None
        return found.blob_key


async def _drain(reader: AsyncIterator[bytes]) -> None:
    async for _ in reader:
        pass
