"""Security review (issue 22), item 3: storage cannot be filled without limit. Videos and the bytes
reserved by open uploads count against the user's and the group's quota, open uploads per user are
capped, and the check is atomic with the write (parallel requests cannot all pass). On SQLite + local
disk and PostgreSQL + Redis + Azurite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from app.config import Settings
from tests.conftest import AppClient
from tests.helpers import Account, register
from tests.integration.media.attachments import start
from tests.integration.media.videos import KiB, add_member, group_with_owner, leftover_blobs, mp4, upload

pytestmark = pytest.mark.anyio
QUOTA = 30 * KiB


async def _session(client: AppClient, who: Account, gid: int, size: int) -> Any:
    return await client.post(
        "/api/v1/uploads",
        json={"name": "film.mp4", "size": size, "group_id": gid, "chunk_size": 4 * KiB},
        headers=who.headers,
    )


def _refused(response: Any, scope: str) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == "quota_exceeded"
    assert body["extra"]["scope"] == scope
    return body


async def test_videos_count_against_the_quota(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings], settings: Settings
) -> None:
    del settings  # requested only so the database is made before the event loop runs
    settings = media_settings(storage_quota_bytes=QUOTA)
    client: AppClient = await make_client(settings)
    owner, gid = await group_with_owner(client)
    await upload(client, owner, gid, mp4(20 * KiB, seed=1), "first.mp4")
    body = _refused(await start(client, owner, gid, 15 * KiB, "notes.txt"), "user")
    assert body["extra"] == {"scope": "user", "used": 20 * KiB, "quota": QUOTA, "size": 15 * KiB}
    _refused(await _session(client, owner, gid, 15 * KiB), "user")
    before = await leftover_blobs(settings)
    second = await client.post(
        f"/api/v1/groups/{gid}/videos",
        files={"file": ("second.mp4", mp4(20 * KiB, seed=2), "application/octet-stream")},
        headers=owner.headers,
    )
    _refused(second, "user")
    assert await leftover_blobs(settings) == before  # the refused upload's bytes are gone
    me = (await client.get("/api/v1/users/me", headers=owner.headers)).json()
    assert me["storage"] == {"used": 20 * KiB, "reserved": 0, "quota": QUOTA}


async def test_open_uploads_reserve_their_size(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings], settings: Settings
) -> None:
    """Sessions that are never completed (their chunks staged) used to count for nothing."""
    del settings
    client: AppClient = await make_client(media_settings(storage_quota_bytes=QUOTA))
    owner, gid = await group_with_owner(client)
    first = await _session(client, owner, gid, 20 * KiB)
    assert first.status_code == 201, first.text
    _refused(await _session(client, owner, gid, 20 * KiB), "user")
    me = (await client.get("/api/v1/users/me", headers=owner.headers)).json()
    assert me["storage"] == {"used": 0, "reserved": 20 * KiB, "quota": QUOTA}
    aborted = await client.delete(f"/api/v1/uploads/{first.json()['id']}", headers=owner.headers)
    assert aborted.status_code == 204
    assert (await _session(client, owner, gid, 20 * KiB)).status_code == 201


async def test_open_uploads_per_user_are_capped(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings], settings: Settings
) -> None:
    del settings
    client: AppClient = await make_client(media_settings(upload_sessions_per_user=3))
    owner, gid = await group_with_owner(client)
    opened = [await _session(client, owner, gid, 4 * KiB) for _ in range(3)]
    assert [r.status_code for r in opened] == [201, 201, 201]
    refused = await _session(client, owner, gid, 4 * KiB)
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    await client.delete(f"/api/v1/uploads/{opened[0].json()['id']}", headers=owner.headers)
    assert (await _session(client, owner, gid, 4 * KiB)).status_code == 201


async def test_the_group_has_a_quota_of_its_own(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings], settings: Settings
) -> None:
    del settings
    client: AppClient = await make_client(media_settings(group_storage_quota_bytes=QUOTA))
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    await upload(client, owner, gid, mp4(20 * KiB, seed=1), "first.mp4")
    body = _refused(await _session(client, member, gid, 20 * KiB), "group")
    assert body["extra"] == {"scope": "group", "used": 20 * KiB, "quota": QUOTA, "size": 20 * KiB}


async def test_parallel_requests_cannot_all_pass_the_check(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings], settings: Settings
) -> None:
    """The check and the write are one step: of five parallel 10 KiB uploads under a 30 KiB quota,
    exactly three get their session."""
    del settings
    client: AppClient = await make_client(media_settings(storage_quota_bytes=QUOTA))
    owner, gid = await group_with_owner(client)
    answers = await asyncio.gather(*[_session(client, owner, gid, 10 * KiB) for _ in range(5)])
    assert sorted(r.status_code for r in answers) == [201, 201, 201, 409, 409], [r.text for r in answers]
