"""Multipart uploads, streamed to the blob store: limits, magic bytes, names, the seed's /api/upload."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.config import Settings
from tests.conftest import AppClient
from tests.helpers import register
from tests.integration.media.videos import (
    HTML,
    KiB,
    add_member,
    group_with_owner,
    leftover_blobs,
    mp4,
    new_group,
    upload,
    webm,
)

pytestmark = pytest.mark.anyio


def multipart(fields: list[tuple[str, str | None, bytes]], boundary: str = "huddle-test-boundary") -> bytes:
    """A multipart/form-data body by hand, so tests choose the order of the fields."""
    body = b""
    for name, filename, value in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


FORM = {"content-type": "multipart/form-data; boundary=huddle-test-boundary"}


async def drip(data: bytes, size: int = 16 * KiB) -> AsyncIterator[bytes]:
    """A body without Content-Length, sent in pieces: the server only learns its size by reading."""
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


async def test_upload_is_stored_and_served(client: AppClient, settings: Settings) -> None:
    owner, gid = await group_with_owner(client)
    data = mp4(300 * KiB, seed=1)
    video = await upload(client, owner, gid, data, "Holiday clip.mp4")
    assert video["name"] == "Holiday clip.mp4"
    assert (video["group_id"], video["size"], video["content_type"]) == (gid, len(data), "video/mp4")
    assert video["uploader_id"] == owner.user["id"]
    assert video["stream_url"].startswith(f"/api/v1/videos/{video['id']}/stream?")
    response = await client.get(f"/api/v1/videos/{video['id']}/stream", headers=owner.headers)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["etag"] == video["etag"]
    assert "Holiday clip.mp4" in response.headers["content-disposition"]
    # The key is generated; the file name is only a display name.
    blobs = [name for name in await leftover_blobs(settings) if not name.startswith(".meta/")]
    assert len(blobs) == 1
    assert blobs[0].startswith("videos/")
    assert "Holiday" not in blobs[0]


async def test_the_stored_type_comes_from_the_bytes(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    video = await upload(client, owner, gid, webm(5 * KiB), "looks-like.mp4")
    assert video["content_type"] == "video/webm"


async def test_html_named_mp4_is_refused_and_nothing_is_kept(client: AppClient, settings: Settings) -> None:
    owner, gid = await group_with_owner(client)
    response = await client.post(
        f"/api/v1/groups/{gid}/videos",
        files={"file": ("movie.mp4", HTML, "video/mp4")},
        headers=owner.headers,
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert await leftover_blobs(settings) == []
    listed = await client.get(f"/api/v1/groups/{gid}/videos", headers=owner.headers)
    assert listed.json() == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
async def test_oversize_upload_is_413_and_leaves_no_blob(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings], chunked: bool
) -> None:
    settings = media_settings(max_upload_bytes=64 * KiB)
    client: AppClient = await make_client(settings)
    owner, gid = await group_with_owner(client)
    body = multipart([("file", "big.mp4", mp4(64 * KiB + 1))])
    response = await client.post(
        f"/api/v1/groups/{gid}/videos",
        content=drip(body) if chunked else body,
        headers=FORM | owner.headers,
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert await leftover_blobs(settings) == []
    # Exactly at the limit is fine.
    await upload(client, owner, gid, mp4(64 * KiB), "fits.mp4")


async def test_oversize_past_the_first_blocks_leaves_no_staged_data(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings]
) -> None:
    # Several MiB in: the Azure adapter has staged 4 MiB blocks by then, the local one a temp file.
    settings = media_settings(max_upload_bytes=5 * 1024 * KiB)
    client: AppClient = await make_client(settings)
    owner, gid = await group_with_owner(client)
    body = multipart([("file", "big.mp4", mp4(5 * 1024 * KiB + 1))])
    response = await client.post(
        f"/api/v1/groups/{gid}/videos", content=drip(body, 256 * KiB), headers=FORM | owner.headers
    )
    assert response.status_code == 413
    assert await leftover_blobs(settings) == []


@pytest.mark.parametrize(
    ("filename", "shown"),
    [
        ("../../etc/passwd.mp4", "passwd.mp4"),
        ("..\\..\\windows\\system32\\evil.mp4", "evil.mp4"),
        ("/absolute/path/clip.mp4", "clip.mp4"),
        ("...hidden.mp4", "hidden.mp4"),
        ("..", "video"),
        ("trailing dots. . .", "trailing dots"),
        ("evil\u202egnp.mp4", "evilgnp.mp4"),  # a right-to-left override would disguise the extension
        ("  spaced   out  .mp4", "spaced out .mp4"),
        ("x" * 400 + ".webm", "x" * 250 + ".webm"),
        ("Café 🎬.mp4", "Café 🎬.mp4"),
    ],
)
async def test_file_names_are_sanitized(
    client: AppClient, settings: Settings, filename: str, shown: str
) -> None:
    owner, gid = await group_with_owner(client)
    video = await upload(client, owner, gid, mp4(2 * KiB), filename)
    assert video["name"] == shown
    for blob in await leftover_blobs(settings):
        assert ".." not in blob
        assert "passwd" not in blob
        assert "evil" not in blob


async def test_same_name_in_a_group_gets_a_number(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    names = [(await upload(client, owner, gid, mp4(KiB, seed=n), "clip.mp4"))["name"] for n in range(3)]
    assert names == ["clip.mp4", "clip (2).mp4", "clip (3).mp4"]
    other = await new_group(client, owner, "Other")
    assert (await upload(client, owner, other, mp4(KiB), "clip.mp4"))["name"] == "clip.mp4"


async def test_upload_needs_membership_before_any_byte(client: AppClient, settings: Settings) -> None:
    _, gid = await group_with_owner(client)
    stranger = await register(client, "Stranger")
    response = await client.post(
        f"/api/v1/groups/{gid}/videos", files={"file": ("x.mp4", mp4(KiB))}, headers=stranger.headers
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "Group not found"
    unauthenticated = await client.post(f"/api/v1/groups/{gid}/videos", files={"file": ("x.mp4", mp4(KiB))})
    assert unauthenticated.status_code == 401
    assert await leftover_blobs(settings) == []


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"content-type": "application/json"}, b"{}", 415),
        ({"content-type": "multipart/form-data"}, b"", 415),  # no boundary
        (FORM, multipart([("other", None, b"x")]), 400),  # no file field
        (
            FORM,
            b'--huddle-test-boundary\r\nContent-Disposition: form-data; name="file"\r\n\r\n' + mp4(KiB),
            400,
        ),
        (FORM, b"garbage without any boundary", 400),
    ],
    ids=["json", "no-boundary", "no-file", "truncated", "garbage"],
)
async def test_malformed_forms_are_4xx(
    client: AppClient, settings: Settings, headers: dict[str, str], body: bytes, status: int
) -> None:
    owner, gid = await group_with_owner(client)
    response = await client.post(
        f"/api/v1/groups/{gid}/videos", content=body, headers=headers | owner.headers
    )
    assert response.status_code == status, response.text
    assert await leftover_blobs(settings) == []


async def test_seed_upload_with_group_in_query_or_form(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    await new_group(client, owner, "Second")  # two groups: the group must be named
    by_query = await client.post(
        "/api/upload", params={"group_id": gid}, files={"file": ("q.mp4", mp4(KiB))}, headers=owner.headers
    )
    assert by_query.status_code == 201, by_query.text
    assert by_query.json()["group_id"] == gid
    form = multipart([("group_id", None, str(gid).encode()), ("file", "f.mp4", mp4(KiB))])
    by_form = await client.post("/api/upload", content=form, headers=FORM | owner.headers)
    assert by_form.status_code == 201, by_form.text
    assert (by_form.json()["group_id"], by_form.json()["name"]) == (gid, "f.mp4")
    canonical = await client.post(
        "/api/v1/videos", params={"group_id": gid}, files={"file": ("c.mp4", mp4(KiB))}, headers=owner.headers
    )
    assert canonical.status_code == 201


async def test_seed_upload_without_group(client: AppClient) -> None:
    owner = await register(client, "Owner")
    none = await client.post("/api/upload", files={"file": ("a.mp4", mp4(KiB))}, headers=owner.headers)
    assert none.status_code == 400
    assert "group_id" in none.json()["detail"]
    only = await new_group(client, owner)
    one = await client.post("/api/upload", files={"file": ("a.mp4", mp4(KiB))}, headers=owner.headers)
    assert one.status_code == 201  # the caller's only group: a seed client keeps working
    assert one.json()["group_id"] == only
    await new_group(client, owner, "Second")
    two = await client.post("/api/upload", files={"file": ("a.mp4", mp4(KiB))}, headers=owner.headers)
    assert two.status_code == 400


async def test_seed_upload_group_field_after_the_file_is_not_used(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    other = await new_group(client, owner, "Second")
    form = multipart([("file", "f.mp4", mp4(KiB)), ("group_id", None, str(other).encode())])
    response = await client.post("/api/upload", content=form, headers=FORM | owner.headers)
    assert response.status_code == 400  # two groups, and no group named before the file
    assert gid != other


async def test_seed_upload_to_someone_elses_group_is_404(client: AppClient, settings: Settings) -> None:
    _, gid = await group_with_owner(client)
    stranger = await register(client, "Stranger")
    form = multipart([("group_id", None, str(gid).encode()), ("file", "f.mp4", mp4(KiB))])
    response = await client.post("/api/upload", content=form, headers=FORM | stranger.headers)
    assert response.status_code == 404
    bad = multipart([("group_id", None, b"12345678901234567890"), ("file", "f.mp4", mp4(KiB))])
    response = await client.post("/api/upload", content=bad, headers=FORM | stranger.headers)
    assert response.status_code == 400
    assert await leftover_blobs(settings) == []


async def test_members_can_upload_too(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    video = await upload(client, member, gid, mp4(KiB))
    assert video["uploader_id"] == member.user["id"]


async def test_a_client_gone_mid_upload_is_not_a_server_error(client: AppClient) -> None:
    """The client disconnects after the first part of the body: not a 500 in the log or metrics,
    but 499 (client closed the request), and nothing is stored."""
    owner, gid = await group_with_owner(client)
    head = b'--x\r\ncontent-disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n' + mp4(4 * KiB)
    events = iter([{"type": "http.request", "body": head, "more_body": True}, {"type": "http.disconnect"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(events, {"type": "http.disconnect"})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/api/v1/groups/{gid}/videos",
        "raw_path": f"/api/v1/groups/{gid}/videos".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {owner.access_token}".encode()),
            (b"content-type", b"multipart/form-data; boundary=x"),
            (b"content-length", b"1000000"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await client.app(scope, receive, send)  # type: ignore[arg-type]
    [start] = [message for message in sent if message["type"] == "http.response.start"]
    assert start["status"] == 499
    listed = await client.get(f"/api/v1/groups/{gid}/videos", headers=owner.headers)
    assert listed.json() == []
