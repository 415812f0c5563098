"""The catalog: listing, permissions, rename, delete (the blob goes too), events, message attachments."""

from __future__ import annotations

import msgspec
import pytest

from app.config import Settings
from app.domain.media.schemas import VideoAdded, VideoDeleted, VideoInfo, VideoUpdated
from tests.conftest import AppClient
from tests.helpers import register
from tests.integration.media.videos import (
    KiB,
    add_member,
    group_with_owner,
    leftover_blobs,
    mp4,
    new_group,
    upload,
)
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio


async def test_lists_per_group_and_everything_i_may_watch(client: AppClient) -> None:
    owner, first = await group_with_owner(client)
    second = await new_group(client, owner, "Second")
    stranger = await register(client, "Stranger")
    theirs = await new_group(client, stranger, "Theirs")
    a = await upload(client, owner, first, mp4(KiB), "a.mp4")
    b = await upload(client, owner, second, mp4(KiB), "b.mp4")
    await upload(client, stranger, theirs, mp4(KiB), "secret.mp4")

    listed = await client.get(f"/api/v1/groups/{first}/videos", headers=owner.headers)
    assert [v["id"] for v in listed.json()] == [a["id"]]
    for path in ("/api/videos", "/api/v1/videos"):
        everything = await client.get(path, headers=owner.headers)
        assert everything.status_code == 200
        assert [v["id"] for v in everything.json()] == [b["id"], a["id"]]  # newest first
    narrowed = await client.get("/api/v1/videos", params={"group_id": second}, headers=owner.headers)
    assert [v["id"] for v in narrowed.json()] == [b["id"]]
    paged = await client.get("/api/videos", params={"limit": 1, "offset": 1}, headers=owner.headers)
    assert [v["id"] for v in paged.json()] == [a["id"]]
    assert (await client.get("/api/videos")).status_code == 401


async def test_other_groups_videos_are_404(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    video = await upload(client, owner, gid, mp4(KiB))
    stranger = await register(client, "Stranger")
    for method, path in [
        ("GET", f"/api/v1/groups/{gid}/videos"),
        ("GET", f"/api/v1/videos/{video['id']}"),
        ("PATCH", f"/api/v1/videos/{video['id']}"),
        ("DELETE", f"/api/v1/videos/{video['id']}"),
        ("GET", f"/api/v1/videos/{video['id']}/stream"),
        ("HEAD", f"/api/v1/videos/{video['id']}/stream"),
    ]:
        response = await client.request(method, path, json={"name": "x.mp4"}, headers=stranger.headers)
        assert response.status_code == 404, (method, path)
        if method != "HEAD":
            assert response.json()["code"] == "not_found"
    assert (await client.get("/api/videos", headers=stranger.headers)).json() == []
    missing = await client.get("/api/v1/videos/999999999", headers=owner.headers)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Video not found"


async def test_rename(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    mine = await upload(client, member, gid, mp4(KiB), "mine.mp4")
    theirs = await upload(client, owner, gid, mp4(KiB), "theirs.mp4")
    renamed = await client.patch(
        f"/api/v1/videos/{mine['id']}", json={"name": "../Renamed.mp4"}, headers=member.headers
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Renamed.mp4"
    clash = await client.patch(
        f"/api/v1/videos/{mine['id']}", json={"name": "theirs.mp4"}, headers=member.headers
    )
    assert clash.status_code == 409
    forbidden = await client.patch(
        f"/api/v1/videos/{theirs['id']}", json={"name": "x.mp4"}, headers=member.headers
    )
    assert forbidden.status_code == 403
    by_admin = await client.patch(
        f"/api/v1/videos/{mine['id']}", json={"name": "Admin's.mp4"}, headers=owner.headers
    )
    assert by_admin.status_code == 200
    # Nothing left once cleaned (blanks, dots, a folder, invisible characters): 400, not "video".
    for bad in (
        {},
        {"name": ""},
        {"name": 5},
        {"name": "   "},
        {"name": " . "},
        {"name": "a/"},
        {"name": "\u202e"},
    ):
        response = await client.patch(f"/api/v1/videos/{mine['id']}", json=bad, headers=owner.headers)
        assert response.status_code == 400, bad
    assert (await client.get(f"/api/v1/videos/{mine['id']}", headers=owner.headers)).json()[
        "name"
    ] == "Admin's.mp4"


async def test_delete_permissions_and_the_blob_goes_too(client: AppClient, settings: Settings) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    other = await register(client, "Other member")
    await add_member(client, owner, gid, member)
    await add_member(client, owner, gid, other)
    first = await upload(client, member, gid, mp4(KiB, seed=1), "first.mp4")
    second = await upload(client, member, gid, mp4(KiB, seed=2), "second.mp4")
    assert len(await leftover_blobs(settings)) >= 2

    denied = await client.delete(f"/api/v1/videos/{first['id']}", headers=other.headers)
    assert denied.status_code == 403
    assert denied.json()["code"] == "forbidden"
    assert (await client.delete(f"/api/v1/videos/{first['id']}", headers=member.headers)).status_code == 204
    assert (await client.delete(f"/api/v1/videos/{second['id']}", headers=owner.headers)).status_code == 204
    assert (await client.get(f"/api/v1/videos/{first['id']}", headers=member.headers)).status_code == 404
    assert (
        await client.get(f"/api/v1/videos/{first['id']}/stream", headers=member.headers)
    ).status_code == 404
    assert await leftover_blobs(settings) == []


async def test_deleting_the_group_removes_its_blobs(client: AppClient, settings: Settings) -> None:
    owner, gid = await group_with_owner(client)
    await upload(client, owner, gid, mp4(KiB))
    staged = await client.post(
        "/api/v1/uploads",
        json={"name": "half.mp4", "size": 2048, "group_id": gid, "chunk_size": 1024},
        headers=owner.headers,
    )
    await client.put(
        f"/api/v1/uploads/{staged.json()['id']}/chunks/0", content=mp4(1024), headers=owner.headers
    )
    assert await leftover_blobs(settings) != []
    assert (await client.delete(f"/api/v1/groups/{gid}", headers=owner.headers)).status_code == 204
    assert await leftover_blobs(settings) == []
    assert (await client.get("/api/videos", headers=owner.headers)).json() == []


async def test_a_members_socket_hears_added_renamed_deleted(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    socket = AsgiWebSocket(client.app, f"/ws/group/{gid}", f"token={member.access_token}&events=all")
    async with socket:
        await socket.until(lambda frame: frame["type"] == "subscribed")
        video = await upload(client, owner, gid, mp4(KiB), "clip.mp4")
        added = await socket.until(lambda frame: frame["type"].startswith("video_"))
        await client.patch(
            f"/api/v1/videos/{video['id']}", json={"name": "better.mp4"}, headers=owner.headers
        )
        updated = await socket.until(lambda frame: frame["type"].startswith("video_"))
        await client.delete(f"/api/v1/videos/{video['id']}", headers=owner.headers)
        deleted = await socket.until(lambda frame: frame["type"].startswith("video_"))
    # The shapes are pinned: clients decode these frames.
    info = {field: video[field] for field in VideoInfo.__struct_fields__}
    assert added == {"type": "video_added", "group_id": gid, "video": info}
    assert msgspec.convert(added, VideoAdded).video.id == video["id"]
    assert "stream_url" not in added["video"]  # signed URLs are per user: GET the video for one
    assert updated == {"type": "video_updated", "group_id": gid, "video": info | {"name": "better.mp4"}}
    assert msgspec.convert(updated, VideoUpdated).video.name == "better.mp4"
    assert deleted == {"type": "video_deleted", "group_id": gid, "video_id": video["id"]}
    assert msgspec.convert(deleted, VideoDeleted).video_id == video["id"]


async def test_the_groups_playback_follows_a_rename_and_stops_when_the_video_goes(client: AppClient) -> None:
    """The playback state names its video: renamed, members joining later still find it; deleted, the
    group's player stops instead of pointing at nothing."""
    owner, gid = await group_with_owner(client)
    video = await upload(client, owner, gid, mp4(KiB), "clip.mp4")
    other = await upload(client, owner, gid, mp4(KiB), "other.mp4")
    socket = AsgiWebSocket(client.app, f"/ws/group/{gid}", f"token={owner.access_token}&events=all")
    async with socket:
        await socket.until(lambda frame: frame["type"] == "subscribed")
        play = {"type": "video_control", "video_action": "play", "video_name": "clip.mp4", "video_time": 3.0}
        await socket.send(play)
        playing = await socket.until(lambda frame: frame["type"] == "playback_state")
        await client.patch(f"/api/v1/videos/{other['id']}", json={"name": "b.mp4"}, headers=owner.headers)
        await client.patch(f"/api/v1/videos/{video['id']}", json={"name": "a.mp4"}, headers=owner.headers)
        renamed = await socket.until(lambda frame: frame["type"] == "playback_state")
        await client.delete(f"/api/v1/videos/{video['id']}", headers=owner.headers)
        stopped = await socket.until(lambda frame: frame["type"] == "playback_state")
    assert (playing["video_name"], playing["playing"]) == ("clip.mp4", True)
    # Only the playing video's rename moved it: same timeline, new name.
    assert renamed == playing | {"video_name": "a.mp4", "server_time": renamed["server_time"]}
    assert stopped["video_name"] is None
    assert stopped["playing"] is False
    assert stopped["position"] >= 3.0  # where it had got to
    late = AsgiWebSocket(client.app, f"/ws/group/{gid}", f"token={owner.access_token}&events=all")
    async with late:
        joined = await late.until(lambda frame: frame["type"] == "playback_state")
    assert (joined["video_name"], joined["playing"]) == (None, False)


async def test_messages_may_attach_only_their_groups_videos(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    other = await new_group(client, owner, "Other")
    here = await upload(client, owner, gid, mp4(KiB))
    elsewhere = await upload(client, owner, other, mp4(KiB))
    sent = await client.post(
        f"/api/v1/groups/{gid}/messages",
        json={"text": "watch", "video_id": here["id"]},
        headers=owner.headers,
    )
    assert sent.status_code == 201
    assert sent.json()["video_id"] == here["id"]
    for video_id in (elsewhere["id"], 999_999_999):
        refused = await client.post(
            f"/api/v1/groups/{gid}/messages",
            json={"text": "nope", "video_id": video_id},
            headers=owner.headers,
        )
        assert refused.status_code == 404
        assert refused.json()["detail"] == "Video not found"
