"""Attachments end to end, on SQLite + local disk and PostgreSQL + Redis + Azurite: every allowed kind
byte-exact, refusals by content, limits and quota, thumbnails, authorization, messages and deletion."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from app.config import Settings
from app.db.models.media import Attachment
from app.domain.attachments.services import sweep_unsent
from app.server.app import runtime_of
from tests.conftest import AppClient
from tests.helpers import Account, register
from tests.integration.media.attachments import (
    CHUNK,
    HTML_AS_PNG,
    SVG_WITH_SCRIPT,
    attach,
    every_kind,
    jpeg_with_exif,
    noisy_png,
    png,
    put,
    start,
    text,
)
from tests.integration.media.videos import (
    add_member,
    blob_key_of,
    group_with_owner,
    leftover_blobs,
    new_group,
)
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio


async def blobs(settings: Settings) -> list[str]:
    """The blobs in storage (the local store's own bookkeeping under `.meta/` left out)."""
    return [key for key in await leftover_blobs(settings) if not key.startswith(".")]


async def send(client: AppClient, who: Account, gid: int, ids: list[int], text: str | None = None) -> Any:
    body: dict[str, Any] = {"attachment_ids": ids}
    if text is not None:
        body["text"] = text
    return await client.post(f"/api/v1/groups/{gid}/messages", json=body, headers=who.headers)


async def test_every_allowed_kind_round_trips_byte_exact(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    for label, (name, data, kind, content_type) in every_kind().items():
        made = (await attach(client, owner, gid, data, name)).json()
        assert (made["name"], made["kind"], made["content_type"], made["size"]) == (
            name,
            kind,
            content_type,
            len(data),
        ), label
        by_token = await client.get(f"/api/v1/attachments/{made['id']}", headers=owner.headers)
        assert by_token.status_code == 200, label
        assert by_token.content == data, label
        assert by_token.headers["content-type"] == content_type
        signed = await client.get(made["url"])  # no Authorization header: the signature is enough
        assert signed.content == data, label
        part = await client.get(made["url"], headers={"range": "bytes=10-99"})
        assert (part.status_code, part.content) == (206, data[10:100]), label
        assert part.headers["content-range"] == f"bytes 10-99/{len(data)}"


@pytest.mark.parametrize(
    ("name", "data"), [("page.png", HTML_AS_PNG), ("logo.svg", SVG_WITH_SCRIPT), ("x.txt", b"\x00\x01bin")]
)
async def test_disguised_html_svg_and_binary_are_refused_at_the_first_chunk(
    client: AppClient, settings: Settings, name: str, data: bytes
) -> None:
    owner, gid = await group_with_owner(client)
    session = (await start(client, owner, gid, len(data), name)).json()
    refused = await put(client, owner, session["id"], 0, data)
    assert refused.status_code == 415, refused.text
    assert refused.json()["code"] == "unsupported_media_type"
    assert await leftover_blobs(settings) == []


async def test_served_files_are_sandboxed_and_only_images_are_inline(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    note = (await attach(client, owner, gid, text(), "../../évil\u202etxt.html.txt")).json()
    assert note["name"] == "éviltxt.html.txt"  # folders and the bidi override are gone
    response = await client.get(note["url"])
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"_vil_txt.html.txt\"; filename*=UTF-8''%C3%A9viltxt.html.txt"
    ) or response.headers["content-disposition"].startswith('attachment; filename="')
    assert "filename*=UTF-8''%C3%A9viltxt.html.txt" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("sandbox")
    image = (await attach(client, owner, gid, png(), "cat.png")).json()
    shown = await client.get(image["url"])
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.headers["content-security-policy"].startswith("sandbox")
    head = await client.head(image["url"])
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", str(len(png())))


async def test_a_file_over_its_kind_limit_is_413_and_leaves_no_blob(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings], settings: Settings
) -> None:
    del settings  # requested only so the database is made before the event loop runs
    settings = media_settings(
        attachment_image_max_bytes=2 * CHUNK,
        attachment_pdf_max_bytes=16 * CHUNK,
        attachment_text_max_bytes=16 * CHUNK,
        attachment_zip_max_bytes=64 * CHUNK,
    )
    client = await make_client(settings)
    owner, gid = await group_with_owner(client)
    too_big_for_all = await start(client, owner, gid, 65 * CHUNK, "huge.zip")
    assert too_big_for_all.status_code == 413
    data = noisy_png(90, 90)
    assert len(data) > 2 * CHUNK
    session = (await start(client, owner, gid, len(data), "big.png")).json()
    refused = await put(client, owner, session["id"], 0, data[:CHUNK])
    assert refused.status_code == 413, refused.text
    assert refused.json()["extra"]["kind"] == "image"
    assert await leftover_blobs(settings) == []


async def test_quota_is_checked_and_usage_is_on_users_me(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings], settings: Settings
) -> None:
    del settings  # requested only so the database is made before the event loop runs
    client = await make_client(media_settings(storage_quota_bytes=30_000))
    owner, gid = await group_with_owner(client)
    me = (await client.get("/api/v1/users/me", headers=owner.headers)).json()
    assert me["storage"] == {"used": 0, "reserved": 0, "quota": 30_000}
    data = text()  # about 10 KB
    await attach(client, owner, gid, data, "a.txt")
    await attach(client, owner, gid, data, "b.txt")
    me = (await client.get("/users/me", headers=owner.headers)).json()
    assert me["storage"] == {"used": 2 * len(data), "reserved": 0, "quota": 30_000}
    refused = await start(client, owner, gid, len(data), "c.txt")
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "quota_exceeded"
    assert body["extra"] == {"scope": "user", "used": 2 * len(data), "quota": 30_000, "size": len(data)}


async def test_non_members_get_404_and_bad_or_expired_signatures_403(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    outsider = await register(client, "Outsider")
    made = (await attach(client, owner, gid, png(), "cat.png")).json()
    path = f"/api/v1/attachments/{made['id']}"
    assert (await client.get(path, headers=outsider.headers)).status_code == 404
    assert (await client.get(f"{path}/thumbnail", headers=outsider.headers)).status_code == 404
    assert (await client.get(f"{path}/info", headers=outsider.headers)).status_code == 404
    assert (await client.get(path)).status_code == 401
    query = parse_qs(urlsplit(made["url"]).query)
    exp, sig = query["exp"][0], query["sig"][0]
    tampered = await client.get(f"{path}?exp={exp}&sig={sig[:-2]}AA")
    assert tampered.status_code == 403
    assert (await client.get(f"{path}?exp={int(exp) + 300}&sig={sig}")).status_code == 403
    assert (await client.get(f"{path}/thumbnail?exp={exp}&sig={sig}")).status_code == 403  # other variant
    signer = runtime_of(client.app).attachment_signer
    key = await blob_key_of(client, Attachment, made["id"])
    expired_query, _ = signer.sign(made["id"], "file", key=key, now=time.time() - 2 * signer.ttl)
    expired = await client.get(f"{path}?{expired_query}", headers=owner.headers)
    assert expired.status_code == 403  # judged by the signature alone, even next to a good token
    assert (await client.get(f"{path}?exp=99999999999999999999999&sig=x")).status_code == 403


async def test_thumbnail_is_upright_320_wide_webp_without_exif(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    data = jpeg_with_exif(600, 400)
    with Image.open(io.BytesIO(data)) as original:
        assert original.getexif()[0x0112] == 6
        assert original.getexif().get_ifd(0x8825)  # the test file does carry GPS tags
    made = (await attach(client, owner, gid, data, "photo.jpg")).json()
    assert (made["width"], made["height"]) == (400, 600)  # as displayed: EXIF orientation applied
    thumb = await client.get(made["thumbnail_url"])
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert (image.format, image.size) == ("WEBP", (320, 480))
        assert not image.getexif()
        assert "exif" not in image.info
        assert "icc_profile" not in image.info
        assert "xmp" not in image.info
    assert b"Test Camera Maker" not in thumb.content


async def test_the_original_loses_location_and_camera_but_not_pixels_or_orientation(
    client: AppClient, settings: Settings
) -> None:
    owner, gid = await group_with_owner(client)
    data = jpeg_with_exif(600, 400)
    made = (await attach(client, owner, gid, data, "photo.jpg")).json()
    original = await client.get(made["url"])
    assert original.status_code == 200
    assert made["size"] == len(original.content) < len(data)
    with Image.open(io.BytesIO(original.content)) as clean, Image.open(io.BytesIO(data)) as uploaded:
        assert dict(clean.getexif()) == {0x0112: 6}  # no GPS, no camera: only the orientation
        assert clean.tobytes() == uploaded.tobytes()  # not re-encoded
    assert b"Test Camera Maker" not in original.content
    me = (await client.get("/api/v1/users/me", headers=owner.headers)).json()
    assert me["storage"]["used"] == made["size"]
    assert len(await blobs(settings)) == 2  # the original (replaced in place) and its thumbnail


async def test_a_decompression_bomb_is_refused_and_its_bytes_removed(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings], settings: Settings
) -> None:
    del settings  # requested only so the database is made before the event loop runs
    settings = media_settings(attachment_max_pixels=1_000_000)
    client = await make_client(settings)
    owner, gid = await group_with_owner(client)
    bomb = io.BytesIO()
    Image.new("1", (4000, 4000)).save(bomb, "PNG")  # 16 megapixels in a couple of KB
    refused = await attach(client, owner, gid, bomb.getvalue(), "bomb.png", status=422)
    assert "pixels" in refused.json()["detail"]
    assert await leftover_blobs(settings) == []
    me = (await client.get("/api/v1/users/me", headers=owner.headers)).json()
    assert me["storage"]["used"] == 0


async def test_messages_carry_attachments_in_frames_and_history(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    image = (await attach(client, owner, gid, png(), "cat.png")).json()
    doc = (await attach(client, owner, gid, every_kind()["pdf"][1], "report.pdf")).json()
    sent = await send(client, owner, gid, [image["id"], doc["id"]])  # no text: attachments alone
    assert sent.status_code == 201, sent.text
    frame = sent.json()
    assert frame["text"] == ""
    assert [(a["id"], a["name"], a["kind"]) for a in frame["attachments"]] == [
        (image["id"], "cat.png", "image"),
        (doc["id"], "report.pdf", "pdf"),
    ]
    assert (frame["attachments"][0]["width"], frame["attachments"][0]["height"]) == (400, 300)
    assert frame["attachments"][1]["thumbnail_url"] is None
    history = (await client.get(f"/api/v1/groups/{gid}/messages", headers=member.headers)).json()
    shown = history["items"][-1]["attachments"]
    assert [a["id"] for a in shown] == [image["id"], doc["id"]]
    assert (await client.get(shown[0]["thumbnail_url"])).status_code == 200
    assert (await client.get(shown[1]["url"])).content == every_kind()["pdf"][1]
    seed = (await client.get(f"/messages?group_id={gid}", headers=member.headers)).json()
    assert [a["id"] for a in seed[0]["attachments"]] == [image["id"], doc["id"]]
    plain = await client.post(f"/api/v1/groups/{gid}/messages", json={"text": "hi"}, headers=owner.headers)
    assert plain.json()["attachments"] == []


async def test_what_a_message_may_not_carry(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    other_gid = await new_group(client, owner, "Elsewhere")
    ids = [(await attach(client, owner, gid, text(), f"{n}.txt")).json()["id"] for n in range(11)]
    eleven = await send(client, owner, gid, ids, "too many")
    assert eleven.status_code == 400
    assert (await send(client, owner, gid, ids[:10], "ten is fine")).status_code == 201
    elsewhere = (await attach(client, owner, other_gid, text(), "other.txt")).json()
    wrong_group = await send(client, owner, gid, [elsewhere["id"]], "from another group")
    assert wrong_group.status_code == 404
    assert wrong_group.json()["extra"] == {"attachment_ids": [elsewhere["id"]]}
    not_mine = await send(client, member, gid, [ids[0]], "someone else's upload")
    assert not_mine.status_code == 404
    empty = await client.post(f"/api/v1/groups/{gid}/messages", json={}, headers=owner.headers)
    assert empty.status_code == 400


async def test_deleting_messages_removes_attachments_no_other_message_uses(
    client: AppClient, settings: Settings
) -> None:
    owner, gid = await group_with_owner(client)
    image = (await attach(client, owner, gid, png(), "cat.png")).json()
    first = (await send(client, owner, gid, [image["id"]], "first")).json()
    second = (await send(client, owner, gid, [image["id"]], "again")).json()
    assert len(await blobs(settings)) == 2  # the image and its thumbnail
    deleted = await client.delete(f"/api/v1/groups/{gid}/messages/{first['seq']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert (await client.get(image["url"])).status_code == 200  # still used by the second message
    history = (await client.get(f"/api/v1/groups/{gid}/messages", headers=owner.headers)).json()
    tombstone = next(m for m in history["items"] if m["seq"] == first["seq"])
    assert (tombstone["deleted"], tombstone["attachments"]) == (True, [])
    await client.delete(f"/api/v1/groups/{gid}/messages/{second['seq']}", headers=owner.headers)
    assert (await client.get(image["url"])).status_code == 403  # the link names no file any more
    assert await leftover_blobs(settings) == []
    me = (await client.get("/api/v1/users/me", headers=owner.headers)).json()
    assert me["storage"]["used"] == 0


async def test_deleting_a_group_removes_its_attachments(client: AppClient, settings: Settings) -> None:
    owner, gid = await group_with_owner(client)
    image = (await attach(client, owner, gid, png(), "cat.png")).json()
    await send(client, owner, gid, [image["id"]], "look")
    await attach(client, owner, gid, text(), "never-sent.txt")
    assert len(await blobs(settings)) == 3
    assert (await client.delete(f"/api/v1/groups/{gid}", headers=owner.headers)).status_code == 204
    assert await leftover_blobs(settings) == []


async def test_unsent_attachments_are_swept_after_the_upload_ttl(
    client: AppClient, settings: Settings
) -> None:
    owner, gid = await group_with_owner(client)
    sent = (await attach(client, owner, gid, png(), "sent.png")).json()
    await send(client, owner, gid, [sent["id"]], "kept")
    unsent = (await attach(client, owner, gid, text(), "forgotten.txt")).json()
    runtime = runtime_of(client.app)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.upload_session_ttl_seconds + 60)
    assert await sweep_unsent(runtime, later) >= 1
    assert (await client.get(unsent["url"])).status_code == 403  # the link names no file any more
    assert (await client.get(sent["url"])).status_code == 200
    assert len(await blobs(settings)) == 2


async def test_a_websocket_send_carries_attachments_to_every_member(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    image = (await attach(client, owner, gid, png(), "cat.png")).json()
    sender = AsgiWebSocket(client.app, f"/ws/group/{gid}", f"token={owner.access_token}&events=all")
    receiver = AsgiWebSocket(client.app, f"/ws/group/{gid}", f"token={member.access_token}&events=all")
    async with sender, receiver:
        await sender.until(lambda frame: frame["type"] == "subscribed")
        await receiver.until(lambda frame: frame["type"] == "subscribed")
        await sender.send({"type": "message", "attachment_ids": [image["id"]], "client_msg_id": "ws-1"})
        ack = await sender.until(lambda frame: frame["type"] in {"ack", "error"})
        assert ack["type"] == "ack", ack
        delivered = await receiver.until(lambda frame: frame.get("client_msg_id") == "ws-1")
        await sender.send({"type": "message", "text": "x", "attachment_ids": [10**9]})
        refused = await sender.until(lambda frame: frame["type"] == "error")
    assert [(a["id"], a["kind"], a["width"]) for a in delivered["attachments"]] == [
        (image["id"], "image", 400)
    ]
    assert (await client.get(delivered["attachments"][0]["url"])).content == png()
    assert refused["code"] == "not_found"
