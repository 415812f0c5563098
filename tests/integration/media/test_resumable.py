"""Resumable uploads: chunks in any order, retries, resume, completion checks, abort, expiry."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from sqlalchemy import update

from app.config import Settings
from app.db.models.media import UploadSession
from app.domain.media.uploads.sweeper import sweep_expired_uploads
from app.server.app import runtime_of
from tests.conftest import AppClient
from tests.helpers import Account, register
from tests.integration.media.videos import HTML, KiB, group_with_owner, leftover_blobs, mp4

pytestmark = pytest.mark.anyio

CHUNK = 4 * KiB


async def start(
    client: AppClient, who: Account, gid: int, size: int, *, name: str = "film.mp4", chunk_size: int = CHUNK
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/uploads",
        json={"name": name, "size": size, "group_id": gid, "chunk_size": chunk_size},
        headers=who.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def put(client: AppClient, who: Account, upload_id: str, index: int, data: bytes) -> Any:
    return await client.put(
        f"/api/v1/uploads/{upload_id}/chunks/{index}",
        content=data,
        headers=who.headers | {"content-type": "application/octet-stream"},
    )


def pieces(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[offset : offset + size] for offset in range(0, len(data), size)]


async def test_out_of_order_chunks_with_a_retry(client: AppClient, settings: Settings) -> None:
    owner, gid = await group_with_owner(client)
    data = mp4(10 * CHUNK + 123, seed=3)
    session = await start(client, owner, gid, len(data))
    assert (session["chunk_size"], session["chunk_count"]) == (CHUNK, 11)
    assert (session["received"], session["state"]) == ([], "open")
    parts = pieces(data)
    order = list(range(len(parts)))
    random.Random(4).shuffle(order)
    for index in order:
        response = await put(client, owner, session["id"], index, parts[index])
        assert response.status_code == 200, response.text
    ack = response.json()
    assert (ack["received_count"], ack["chunk_count"]) == (11, 11)
    # A retried chunk (its first answer was lost) is acknowledged again; the content may differ.
    garbled = b"\xff" * CHUNK
    assert (await put(client, owner, session["id"], 5, garbled)).status_code == 200
    assert (await put(client, owner, session["id"], 5, parts[5])).status_code == 200
    status = await client.get(f"/api/v1/uploads/{session['id']}", headers=owner.headers)
    assert status.json()["received"] == list(range(11))
    assert status.json()["received_bytes"] == len(data)
    done = await client.post(f"/api/v1/uploads/{session['id']}/complete", headers=owner.headers)
    assert done.status_code == 201, done.text
    video = done.json()
    assert (video["name"], video["size"], video["content_type"]) == ("film.mp4", len(data), "video/mp4")
    streamed = await client.get(f"/api/v1/videos/{video['id']}/stream", headers=owner.headers)
    assert streamed.content == data
    # Completing again (the first answer was lost) returns the same video.
    again = await client.post(f"/api/v1/uploads/{session['id']}/complete", headers=owner.headers)
    assert again.status_code == 200
    assert again.json()["id"] == video["id"]
    assert (await client.get(f"/api/v1/uploads/{session['id']}", headers=owner.headers)).json()[
        "state"
    ] == "done"
    assert len([b for b in await leftover_blobs(settings) if not b.startswith(".meta/")]) == 1


async def test_resume_sends_only_the_missing_chunks(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    data = mp4(5 * CHUNK, seed=5)
    session = await start(client, owner, gid, len(data))
    parts = pieces(data)
    for index in (0, 2, 4):
        await put(client, owner, session["id"], index, parts[index])
    incomplete = await client.post(f"/api/v1/uploads/{session['id']}/complete", headers=owner.headers)
    assert incomplete.status_code == 409
    assert incomplete.json()["extra"] == {"missing": [1, 3]}
    status = (await client.get(f"/api/v1/uploads/{session['id']}", headers=owner.headers)).json()
    assert status["received"] == [0, 2, 4]
    assert status["state"] == "open"  # a failed completion can be tried again
    for index in set(range(5)) - set(status["received"]):
        await put(client, owner, session["id"], index, parts[index])
    done = await client.post(f"/api/v1/uploads/{session['id']}/complete", headers=owner.headers)
    assert done.status_code == 201
    streamed = await client.get(f"/api/v1/videos/{done.json()['id']}/stream", headers=owner.headers)
    assert streamed.content == data


async def test_chunk_sizes_are_checked(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    data = mp4(2 * CHUNK + 10)
    session = await start(client, owner, gid, len(data))
    upload_id = session["id"]
    assert (await put(client, owner, upload_id, 0, data[: CHUNK - 1])).status_code == 400
    assert (await put(client, owner, upload_id, 0, data[: CHUNK + 1])).status_code == 413
    assert (await put(client, owner, upload_id, 2, data[-11:])).status_code == 413  # the last is 10 bytes
    assert (await put(client, owner, upload_id, 2, data[-10:])).status_code == 200
    assert (await put(client, owner, upload_id, 3, b"x")).status_code == 400  # past the last chunk
    for bad in ("-1", "12345678901234567890", "abc"):
        response = await client.put(
            f"/api/v1/uploads/{upload_id}/chunks/{bad}", content=b"x", headers=owner.headers
        )
        assert response.status_code in (400, 404), (bad, response.status_code)


async def test_the_first_chunk_must_be_a_video(client: AppClient, settings: Settings) -> None:
    owner, gid = await group_with_owner(client)
    page = (HTML * 100)[: 2 * CHUNK]
    session = await start(client, owner, gid, len(page), name="page.mp4")
    assert (await put(client, owner, session["id"], 1, page[CHUNK:])).status_code == 200  # unchecked
    response = await put(client, owner, session["id"], 0, page[:CHUNK])
    assert response.status_code == 415
    status = (await client.get(f"/api/v1/uploads/{session['id']}", headers=owner.headers)).json()
    assert status["received"] == [1]
    assert (
        await client.post(f"/api/v1/uploads/{session['id']}/complete", headers=owner.headers)
    ).status_code == 409
    assert (await client.delete(f"/api/v1/uploads/{session['id']}", headers=owner.headers)).status_code == 204
    assert await leftover_blobs(settings) == []


async def test_sessions_belong_to_their_creator(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    session = await start(client, owner, gid, 2 * CHUNK)
    other = await register(client, "Other")
    for method, path in [
        ("GET", ""),
        ("PUT", "/chunks/0"),
        ("POST", "/complete"),
        ("DELETE", ""),
    ]:
        response = await client.request(
            method, f"/api/v1/uploads/{session['id']}{path}", content=mp4(CHUNK), headers=other.headers
        )
        assert response.status_code == 404, (method, path)
    unknown = await client.get(f"/api/v1/uploads/{uuid.uuid4()}", headers=owner.headers)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
    assert (await client.get("/api/v1/uploads/not-a-uuid", headers=owner.headers)).status_code in (400, 404)


async def test_session_creation_rules(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings]
) -> None:
    settings = media_settings(
        max_upload_bytes=100 * KiB, upload_chunk_bytes=16 * KiB, upload_chunk_max_bytes=32 * KiB
    )
    client: AppClient = await make_client(settings)
    owner, gid = await group_with_owner(client)
    stranger = await register(client, "Stranger")
    body = {"name": "a.mp4", "size": 1000, "group_id": gid}
    assert (await client.post("/api/v1/uploads", json=body, headers=stranger.headers)).status_code == 404
    too_big = await client.post("/api/v1/uploads", json=body | {"size": 100 * KiB + 1}, headers=owner.headers)
    assert too_big.status_code == 413
    for bad in (0, -5, 12345678901234567890):
        response = await client.post("/api/v1/uploads", json=body | {"size": bad}, headers=owner.headers)
        assert response.status_code == 400, bad
    default = (
        await client.post("/api/v1/uploads", json=body | {"size": 40 * KiB}, headers=owner.headers)
    ).json()
    assert (default["chunk_size"], default["chunk_count"]) == (16 * KiB, 3)
    clamped = await client.post(
        "/api/v1/uploads", json=body | {"size": 40 * KiB, "chunk_size": 10**9}, headers=owner.headers
    )
    assert clamped.json()["chunk_size"] == 32 * KiB
    tiny = await client.post(
        "/api/v1/uploads", json=body | {"size": 40 * KiB, "chunk_size": 1}, headers=owner.headers
    )
    assert tiny.json()["chunk_size"] == 1024  # UPLOAD_CHUNK_MIN_BYTES in these tests
    named = await client.post(
        "/api/v1/uploads", json=body | {"name": "../../x/evil.mp4"}, headers=owner.headers
    )
    assert named.json()["name"] == "evil.mp4"


async def test_abort_drops_the_chunks(client: AppClient, settings: Settings) -> None:
    owner, gid = await group_with_owner(client)
    data = mp4(3 * CHUNK)
    session = await start(client, owner, gid, len(data))
    for index, part in enumerate(pieces(data)[:2]):
        await put(client, owner, session["id"], index, part)
    assert (await client.delete(f"/api/v1/uploads/{session['id']}", headers=owner.headers)).status_code == 204
    assert (await client.get(f"/api/v1/uploads/{session['id']}", headers=owner.headers)).status_code == 404
    assert (await put(client, owner, session["id"], 2, pieces(data)[2])).status_code == 404
    assert await leftover_blobs(settings) == []


async def test_a_completed_upload_cannot_be_aborted_or_extended(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    data = mp4(CHUNK)
    session = await start(client, owner, gid, len(data))
    await put(client, owner, session["id"], 0, data)
    assert (
        await client.post(f"/api/v1/uploads/{session['id']}/complete", headers=owner.headers)
    ).status_code == 201
    assert (await put(client, owner, session["id"], 0, data)).status_code == 409
    assert (await client.delete(f"/api/v1/uploads/{session['id']}", headers=owner.headers)).status_code == 409


async def test_expired_sessions_are_swept_with_their_chunks(client: AppClient, settings: Settings) -> None:
    owner, gid = await group_with_owner(client)
    data = mp4(3 * CHUNK)
    expired = await start(client, owner, gid, len(data))
    alive = await start(client, owner, gid, len(data), name="alive.mp4")
    for index, part in enumerate(pieces(data)):
        await put(client, owner, expired["id"], index, part)
        await put(client, owner, alive["id"], index, part)
    runtime = runtime_of(client.app)
    async with runtime.sessions() as db:
        await db.execute(
            update(UploadSession)
            .where(UploadSession.id == uuid.UUID(expired["id"]))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        await db.commit()
    # Expired is gone for the API at once, before any sweep.
    assert (await client.get(f"/api/v1/uploads/{expired['id']}", headers=owner.headers)).status_code == 404
    assert (await put(client, owner, expired["id"], 0, pieces(data)[0])).status_code == 404
    assert (
        await client.post(f"/api/v1/uploads/{expired['id']}/complete", headers=owner.headers)
    ).status_code == 404
    assert await sweep_expired_uploads(runtime) >= 1  # the database is shared by the run's tests
    assert await sweep_expired_uploads(runtime) == 0
    # The expired session's blocks are gone from the store; the live one's are intact.
    expired_key, alive_key = await _keys(client, expired["id"], alive["id"])
    assert expired_key is None
    assert alive_key is not None
    leftovers = await leftover_blobs(settings)
    assert all(expired_key is None or expired_key not in name for name in leftovers)
    done = await client.post(f"/api/v1/uploads/{alive['id']}/complete", headers=owner.headers)
    assert done.status_code == 201
    streamed = await client.get(f"/api/v1/videos/{done.json()['id']}/stream", headers=owner.headers)
    assert streamed.content == data


async def _keys(client: AppClient, *upload_ids: str) -> list[str | None]:
    runtime = runtime_of(client.app)
    async with runtime.sessions() as db:
        return [
            (session.blob_key if (session := await db.get(UploadSession, uuid.UUID(upload_id))) else None)
            for upload_id in upload_ids
        ]


async def test_sweeper_discards_staged_blocks(client: AppClient, settings: Settings) -> None:
    owner, gid = await group_with_owner(client)
    data = mp4(2 * CHUNK)
    session = await start(client, owner, gid, len(data))
    (key,) = await _keys(client, session["id"])
    assert key is not None
    for index, part in enumerate(pieces(data)):
        await put(client, owner, session["id"], index, part)
    assert await leftover_blobs(settings) != []  # staged: local .staging files, Azure uncommitted blocks
    runtime = runtime_of(client.app)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.upload_session_ttl_seconds + 1)
    assert await sweep_expired_uploads(runtime, later) >= 1  # the database is shared by the run's tests
    assert await _keys(client, session["id"]) == [None]
    assert await leftover_blobs(settings) == []
    with pytest.raises(Exception, match="not staged"):
        await runtime.blobs.commit(key, 2, "video/mp4")


async def test_the_lifespan_runs_the_sweeper(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings]
) -> None:
    settings = media_settings(upload_sweep_interval_seconds=0.05)
    client: AppClient = await make_client(settings)
    owner, gid = await group_with_owner(client)
    session = await start(client, owner, gid, CHUNK)
    runtime = runtime_of(client.app)
    async with runtime.sessions() as db:
        await db.execute(
            update(UploadSession)
            .where(UploadSession.id == uuid.UUID(session["id"]))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        await db.commit()
    with anyio.fail_after(10):
        while (await _keys(client, session["id"])) != [None]:
            await anyio.sleep(0.05)


async def test_concurrent_completions_make_one_video(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    data = mp4(3 * CHUNK, seed=8)
    session = await start(client, owner, gid, len(data))
    for index, part in enumerate(pieces(data)):
        await put(client, owner, session["id"], index, part)
    path = f"/api/v1/uploads/{session['id']}/complete"
    first, second = await asyncio.gather(
        client.post(path, headers=owner.headers), client.post(path, headers=owner.headers)
    )
    assert sorted([first.status_code, second.status_code]) in ([200, 201], [201, 409])
    listed = (await client.get(f"/api/v1/groups/{gid}/videos", headers=owner.headers)).json()
    assert [video["name"] for video in listed] == ["film.mp4"]


async def test_a_completion_that_died_after_committing_is_taken_over(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    data = mp4(3 * CHUNK, seed=12)
    session = await start(client, owner, gid, len(data))
    for index, part in enumerate(pieces(data)):
        await put(client, owner, session["id"], index, part)
    # As if a `complete` claimed the session, committed the blob and died before recording the video.
    runtime = runtime_of(client.app)
    (key,) = await _keys(client, session["id"])
    assert key is not None
    await runtime.blobs.commit(key, 3, "video/mp4")
    claimed_at = dt.datetime.now(dt.UTC)
    async with runtime.sessions() as db:
        await db.execute(
            update(UploadSession)
            .where(UploadSession.id == uuid.UUID(session["id"]))
            .values(state="completing", claimed_at=claimed_at)
        )
        await db.commit()
    path = f"/api/v1/uploads/{session['id']}/complete"
    assert (await client.post(path, headers=owner.headers)).status_code == 409  # a live claim
    assert (await put(client, owner, session["id"], 0, pieces(data)[0])).status_code == 409
    async with runtime.sessions() as db:
        await db.execute(
            update(UploadSession)
            .where(UploadSession.id == uuid.UUID(session["id"]))
            .values(claimed_at=claimed_at - dt.timedelta(hours=1))
        )
        await db.commit()
    done = await client.post(path, headers=owner.headers)  # the dead claim is taken over
    assert done.status_code == 201, done.text
    streamed = await client.get(f"/api/v1/videos/{done.json()['id']}/stream", headers=owner.headers)
    assert streamed.content == data


async def test_a_refused_chunk_never_changes_the_stored_video(client: AppClient) -> None:
    """Chunk 3 sent again with other bytes while the upload completes: whichever wins, a chunk
    answered 4xx is not in the video, and one answered 200 made it in before completion."""
    owner, gid = await group_with_owner(client)
    data = mp4(8 * CHUNK, seed=9)
    other = b"\xee" * CHUNK
    outcomes = []
    for _ in range(8):
        session = await start(client, owner, gid, len(data))
        for index, part in enumerate(pieces(data)):
            await put(client, owner, session["id"], index, part)
        done, chunk = await asyncio.gather(
            client.post(f"/api/v1/uploads/{session['id']}/complete", headers=owner.headers),
            put(client, owner, session["id"], 3, other),
        )
        assert done.status_code == 201, done.text
        stored = (
            await client.get(f"/api/v1/videos/{done.json()['id']}/stream", headers=owner.headers)
        ).content
        replaced = stored[3 * CHUNK : 4 * CHUNK] == other
        outcomes.append((chunk.status_code, replaced))
    assert all(replaced == (status == 200) for status, replaced in outcomes), outcomes
