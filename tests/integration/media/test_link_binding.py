"""Security review (issue 22), items 1 and 8a: a signed link serves only the file it was made for, and
an attachment that was never sent is the uploader's alone. On SQLite + local disk and PostgreSQL +
Redis + Azurite; the id reuse itself only ever happened on SQLite."""

from __future__ import annotations

import pytest

from tests.conftest import AppClient
from tests.helpers import register
from tests.integration.media.attachments import attach, text
from tests.integration.media.videos import KiB, add_member, group_with_owner, mp4, upload

pytestmark = pytest.mark.anyio


async def test_a_deleted_attachments_link_never_serves_the_next_upload(client: AppClient) -> None:
    """The attack: send a file, keep its signed URL, delete the message (the row goes), and wait for
    the next upload anywhere, which used to take the same id on SQLite: the old URL served it."""
    attacker, attacker_gid = await group_with_owner(client)
    bait = (await attach(client, attacker, attacker_gid, text(), "bait.txt")).json()
    sent = await client.post(
        f"/api/v1/groups/{attacker_gid}/messages",
        json={"attachment_ids": [bait["id"]]},
        headers=attacker.headers,
    )
    assert sent.status_code == 201, sent.text
    kept_url = sent.json()["attachments"][0]["url"]
    gone = await client.delete(
        f"/api/v1/groups/{attacker_gid}/messages/{sent.json()['seq']}", headers=attacker.headers
    )
    assert gone.status_code == 204
    victim, victim_gid = await group_with_owner(client)
    secret = b"the victim's private notes\n" * 50
    victims = (await attach(client, victim, victim_gid, secret, "private.txt")).json()
    stolen = await client.get(kept_url)
    assert secret not in stolen.content
    assert stolen.status_code in {403, 404}, stolen.status_code
    assert stolen.json()["code"] in {"forbidden", "not_found"}
    assert victims["id"] != bait["id"]  # and ids are never handed out again


async def test_a_deleted_videos_link_never_serves_the_next_upload(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    first = await upload(client, owner, gid, mp4(4 * KiB, seed=1), "first.mp4")
    assert (await client.delete(f"/api/v1/videos/{first['id']}", headers=owner.headers)).status_code == 204
    second = await upload(client, owner, gid, mp4(4 * KiB, seed=2), "second.mp4")
    old_link = await client.get(first["stream_url"])
    assert old_link.content != mp4(4 * KiB, seed=2)
    assert old_link.status_code in {403, 404}, old_link.status_code
    assert second["id"] != first["id"]  # and ids are never handed out again


async def test_an_unsent_attachment_is_the_uploaders_alone(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    draft = (await attach(client, owner, gid, text(), "draft.txt")).json()
    path = f"/api/v1/attachments/{draft['id']}"
    for route in (f"{path}/info", path):
        peek = await client.get(route, headers=member.headers)
        assert peek.status_code == 404, (route, peek.status_code)
        assert peek.json()["code"] == "not_found"
        assert (await client.get(route, headers=owner.headers)).status_code == 200
    sent = await client.post(
        f"/api/v1/groups/{gid}/messages", json={"attachment_ids": [draft["id"]]}, headers=owner.headers
    )
    assert sent.status_code == 201
    assert (await client.get(f"{path}/info", headers=member.headers)).status_code == 200
    assert (await client.get(path, headers=member.headers)).status_code == 200
