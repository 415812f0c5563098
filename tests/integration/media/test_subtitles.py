"""Subtitle tracks (issue 31, part 4): upload (multipart or raw), list, serve with the video's
authorization, delete; limits, hostile files, quotas, events and cleanup. SQLite with local disk, and
PostgreSQL with Azure (Azurite), like every API test in this folder."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from app.config import Settings
from app.server.app import runtime_of
from tests.conftest import AppClient
from tests.helpers import Account, register
from tests.integration.media.videos import (
    HTML,
    KiB,
    add_member,
    group_with_owner,
    leftover_blobs,
    mp4,
    upload,
)
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio

SRT = (
    b"1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> <script>alert(1)</script>\r\n\r\n"
    b"2\r\n00:00:03,000 --> 00:00:04,000\r\nBye\r\n"
)
VTT = b"WEBVTT\n\n00:01.000 --> 00:02.000\n<v Ada>Hi</v>\n"


def subtitles_path(video: dict[str, Any]) -> str:
    return f"/api/v1/videos/{video['id']}/subtitles"


async def add_form(
    client: httpx.AsyncClient,
    who: Account,
    video: dict[str, Any],
    data: bytes,
    filename: str = "film.en.srt",
    **fields: str,
) -> httpx.Response:
    form = {"language": "en"} | fields
    return await client.post(
        subtitles_path(video),
        data={k: v for k, v in form.items() if v is not None},
        files={"file": (filename, data, "application/x-subrip")},
        headers=who.headers,
    )


async def add_raw(
    client: httpx.AsyncClient, who: Account, video: dict[str, Any], data: bytes, **params: str
) -> httpx.Response:
    return await client.post(
        subtitles_path(video),
        params={"language": "en"} | params,
        content=data,
        headers=who.headers | {"content-type": "text/vtt"},
    )


def cue_timings(vtt: str) -> list[str]:
    return [line for line in vtt.splitlines() if "-->" in line]


async def test_an_srt_upload_is_listed_and_served_as_webvtt(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    video = await upload(client, owner, gid, mp4(KiB))

    added = await add_form(client, owner, video, SRT, label="English", kind="captions")
    assert added.status_code == 201, added.text
    track = added.json()
    assert (track["label"], track["language"], track["kind"]) == ("English", "en", "captions")
    assert (track["source_format"], track["cue_count"], track["video_id"]) == ("srt", 2, video["id"])

    # Listed on the video (for every member, each with a URL of their own) and on its own route.
    for who in (owner, member):
        shown = (await client.get(f"/api/v1/videos/{video['id']}", headers=who.headers)).json()
        assert [t["id"] for t in shown["subtitles"]] == [track["id"]]
        listed = await client.get(subtitles_path(video), headers=who.headers)
        assert [t["id"] for t in listed.json()] == [track["id"]]
        in_group = await client.get(f"/api/v1/groups/{gid}/videos", headers=who.headers)
        assert [t["label"] for t in in_group.json()[0]["subtitles"]] == ["English"]
        url = shown["subtitles"][0]["url"]
        served = await client.get(url)  # the signed URL needs no header, like a <track src>
        assert served.status_code == 200, served.text
        assert served.headers["content-type"] == "text/vtt; charset=utf-8"
        assert served.headers["x-content-type-options"] == "nosniff"
        text = served.text
        assert text.startswith("WEBVTT\n")
        assert cue_timings(text) == ["00:00:01.000 --> 00:00:02.500", "00:00:03.000 --> 00:00:04.000"]
        assert "<i>Hello</i>" in text
        assert "<script" not in text
        assert int(served.headers["content-length"]) == track["size"]
        head = await client.head(url)
        assert head.status_code == 200
        assert head.content == b""
    by_bearer = await client.get(f"{subtitles_path(video)}/{track['id']}", headers=member.headers)
    assert by_bearer.status_code == 200
    assert by_bearer.text.startswith("WEBVTT")


async def test_a_raw_body_with_query_parameters(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    video = await upload(client, owner, gid, mp4(KiB))
    first = await add_raw(client, owner, video, VTT, language="pt_br")
    assert first.status_code == 201, first.text
    assert (first.json()["language"], first.json()["label"], first.json()["kind"]) == (
        "pt-BR",
        "pt-BR",
        "subtitles",
    )
    assert first.json()["source_format"] == "webvtt"
    # The same label again gets a number rather than two identical menu entries.
    second = await add_raw(client, owner, video, VTT, language="pt-BR")
    assert second.json()["label"] == "pt-BR (2)"
    # Format by content: an SRT body declared as text/vtt is still SRT, and converted.
    third = await add_raw(client, owner, video, SRT, language="en", label="From SRT")
    assert third.json()["source_format"] == "srt"
    served = await client.get(third.json()["url"])
    assert cue_timings(served.text)[0] == "00:00:01.000 --> 00:00:02.500"


async def test_who_may_add_see_and_delete(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)  # the group's admin
    member = await register(client, "Member")
    stranger = await register(client, "Stranger")
    await add_member(client, owner, gid, member)
    theirs = await upload(client, member, gid, mp4(KiB), "theirs.mp4")
    mine = await upload(client, owner, gid, mp4(KiB), "mine.mp4")
    track = (await add_raw(client, member, theirs, VTT)).json()  # the uploader adds to their video
    assert track["uploader_id"] == member.user["id"]

    # Not in the group: every route is the 404 of a video that does not exist.
    path = f"{subtitles_path(theirs)}/{track['id']}"
    for method, target in [("GET", subtitles_path(theirs)), ("GET", path), ("HEAD", path), ("DELETE", path)]:
        response = await client.request(method, target, headers=stranger.headers)
        assert response.status_code == 404, (method, target)
    refused = await add_raw(client, stranger, theirs, VTT)
    assert refused.status_code == 404
    assert refused.json()["code"] == "not_found"

    # A member who neither uploaded the video nor administers the group may watch, not change.
    assert (await add_raw(client, member, mine, VTT)).status_code == 403
    admin_track = (await add_raw(client, owner, mine, VTT)).json()
    forbidden = await client.delete(f"{subtitles_path(mine)}/{admin_track['id']}", headers=member.headers)
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "forbidden"
    # The group's admin manages every video's tracks.
    assert (await add_raw(client, owner, theirs, VTT, label="By the admin")).status_code == 201
    assert (await client.delete(path, headers=owner.headers)).status_code == 204
    assert (await client.get(path, headers=owner.headers)).status_code == 404
    # A track is reached through its own video only.
    other = await client.get(f"{subtitles_path(mine)}/{track['id']}", headers=owner.headers)
    assert other.status_code == 404
    assert (await client.get(subtitles_path(theirs))).status_code == 401


async def test_signed_urls_follow_membership_and_cannot_be_bent(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    video = await upload(client, owner, gid, mp4(KiB))
    one = (await add_raw(client, owner, video, VTT, label="One")).json()
    two = (await add_raw(client, owner, video, SRT, label="Two")).json()
    shown = (await client.get(f"/api/v1/videos/{video['id']}", headers=member.headers)).json()
    urls = {t["label"]: t["url"] for t in shown["subtitles"]}
    assert (await client.get(urls["One"])).status_code == 200

    def bent(url: str, **changes: str) -> str:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
        return f"{parts.path}?{urlencode(query)}"

    tampered = [
        urls["One"].replace(f"/subtitles/{one['id']}", f"/subtitles/{two['id']}"),  # another track
        bent(urls["One"], uid=str(owner.user["id"])),  # another user
        bent(urls["One"], exp="9999999999"),
        bent(urls["One"], sig="A" * 43),
        bent(urls["One"], uid="99999999999999999999999"),
        bent(urls["One"], exp="x"),
    ]
    for url in tampered:
        response = await client.get(url)
        assert response.status_code == 403, url
        assert response.json()["code"] == "forbidden"
    # A stream URL of the video is not a track URL either.
    stream_query = urlsplit(shown["stream_url"]).query
    assert (await client.get(f"{subtitles_path(video)}/{one['id']}?{stream_query}")).status_code == 403
    # Leaving the group ends the member's links at once.
    removed = await client.delete(f"/api/v1/groups/{gid}/members/{member.user['id']}", headers=owner.headers)
    assert removed.status_code == 204
    assert (await client.get(urls["One"])).status_code == 403


@pytest.fixture
def small_settings(media_settings: Callable[..., Settings], settings: Settings) -> Settings:
    del settings  # requested only so the database is made before the event loop runs
    return media_settings(subtitle_max_bytes=2 * KiB)


@pytest.fixture
async def small_client(make_client: Callable[[Settings], Any], small_settings: Settings) -> AppClient:
    client: AppClient = await make_client(small_settings)
    return client


async def test_too_large_bad_content_and_bad_metadata_store_nothing(small_client: AppClient) -> None:
    client = small_client
    owner, gid = await group_with_owner(client)
    video = await upload(client, owner, gid, mp4(KiB))
    stored = await leftover_blobs(client_settings(client))
    big = b"WEBVTT\n\n" + b"00:01.000 --> 00:02.000\nline\n\n" * 200

    announced = await add_raw(client, owner, video, big)
    assert announced.status_code == 413
    assert announced.json()["code"] == "payload_too_large"

    async def unannounced() -> AsyncIterator[bytes]:  # chunked: no Content-Length to refuse early
        for start in range(0, len(big), 512):
            yield big[start : start + 512]

    streamed = await client.post(
        subtitles_path(video), params={"language": "en"}, content=unannounced(), headers=owner.headers
    )
    assert streamed.status_code == 413
    assert (await add_form(client, owner, video, big)).status_code == 413

    cases = [
        (HTML, 415, "unsupported_subtitle_format"),
        (mp4(KiB), 415, "unsupported_subtitle_format"),
        ("1\n00:00:01,000 --> 00:00:02,000\nJosé\n".encode("latin-1"), 422, "invalid_subtitles"),
        (b"WEBVTT\n\nNOTE nothing to show\n", 422, "invalid_subtitles"),
        (b"", 415, "unsupported_subtitle_format"),
    ]
    for data, status, code in cases:
        for response in (
            await add_raw(client, owner, video, data),
            await add_form(client, owner, video, data),
        ):
            assert response.status_code == status, response.text
            assert response.json()["code"] == code
            assert response.json()["detail"]

    for params in ({"language": "english please"}, {"language": "en", "kind": "chapters"}):
        assert (await add_raw(client, owner, video, VTT, **params)).status_code == 400
    no_language = await client.post(
        subtitles_path(video), content=VTT, headers=owner.headers | {"content-type": "text/vtt"}
    )
    assert no_language.status_code == 400
    assert "language" in no_language.json()["detail"]
    assert (await add_form(client, owner, video, VTT, language="xx-!!")).status_code == 400
    no_file = await client.post(
        subtitles_path(video), data={"language": "en"}, files={"other": ("a", b"x")}, headers=owner.headers
    )
    assert no_file.status_code == 400

    assert (await client.get(subtitles_path(video), headers=owner.headers)).json() == []
    assert await leftover_blobs(client_settings(client)) == stored


def client_settings(client: AppClient) -> Settings:
    return runtime_of(client.app).settings


async def test_hostile_bytes_are_never_a_server_error(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    video = await upload(client, owner, gid, mp4(KiB))
    rng = random.Random(31)
    hostile = [
        b"WEBVTT\n\n00:01.000 --> 00:02.000\n<img src=x onerror=alert(1)><svg/onload=alert(2)>x\n",
        b"WEBVTT\n\nSTYLE\n::cue { background: url(javascript:alert(1)) }\n\n00:01.000 --> 00:02.000\nx\n",
        b"\xef\xbb\xbf\xef\xbb\xbfWEBVTT\n",
        b"\xff\xfe" + "WEBVTT".encode("utf-16-le"),
        b"WEBVTT\n\n" + b"<" * 900 + b"\n",
        b"1\n00:00:01,000 --> 00:00:02,000\n" + b"\x00" * 10,
        b"1\n99999:59:59,999 --> 99999:59:59,999\nx\n",
        b"1\n00:00:01,000 --> 00:00:02,000\n" + "\u202e\ud7ff\U0010ffff".encode() + b"\n",
        *(rng.randbytes(rng.randint(1, 1500)) for _ in range(8)),
        *(b"WEBVTT\n\n" + rng.randbytes(rng.randint(1, 1500)) for _ in range(8)),
    ]
    for index, data in enumerate(hostile):
        for response in (
            await add_raw(client, owner, video, data, label=f"h{index}"),
            await add_form(client, owner, video, data, filename="\u202e../../x\x00.srt"),
        ):
            assert response.status_code < 500, (data[:60], response.text)
            if response.status_code == 201:
                text = (await client.get(response.json()["url"])).text
                assert text.startswith("WEBVTT")
                for gone in ("<script", "<img", "<svg", "onerror", "STYLE"):
                    assert gone not in text
                assert (
                    await client.delete(
                        f"{subtitles_path(video)}/{response.json()['id']}", headers=owner.headers
                    )
                ).status_code == 204
    # Junk in the metadata is a 400 (or cleaned), never a 500.
    for params in ({"label": "a\u202eb\tc"}, {"language": "en\x00"}, {"kind": "../x"}, {"label": "x" * 500}):
        response = await add_raw(client, owner, video, VTT, **params)
        assert response.status_code in (201, 400), (params, response.text)
        if response.status_code == 201:
            assert "\u202e" not in response.json()["label"]


async def test_deleting_tracks_the_video_and_the_group_removes_their_files(
    client: AppClient, settings: Settings
) -> None:
    owner, gid = await group_with_owner(client)
    video = await upload(client, owner, gid, mp4(KiB))

    async def tracks_stored() -> int:
        return sum(name.startswith("subtitles/") for name in await leftover_blobs(settings))

    one = (await add_raw(client, owner, video, VTT, label="One")).json()
    await add_raw(client, owner, video, SRT, label="Two")
    assert await tracks_stored() == 2
    assert (
        await client.delete(f"{subtitles_path(video)}/{one['id']}", headers=owner.headers)
    ).status_code == 204
    assert await tracks_stored() == 1
    assert (await client.get(one["url"])).status_code == 404
    assert (await client.delete(f"/api/v1/videos/{video['id']}", headers=owner.headers)).status_code == 204
    assert await leftover_blobs(settings) == []

    again = await upload(client, owner, gid, mp4(KiB))
    await add_raw(client, owner, again, VTT)
    assert (await client.delete(f"/api/v1/groups/{gid}", headers=owner.headers)).status_code == 204
    assert await leftover_blobs(settings) == []


async def test_the_quota_counts_subtitle_bytes(
    make_client: Callable[[Settings], Any], media_settings: Callable[..., Settings], settings: Settings
) -> None:
    del settings  # requested only so the database is made before the event loop runs
    client: AppClient = await make_client(media_settings(storage_quota_bytes=2 * KiB))
    owner, gid = await group_with_owner(client)
    video = await upload(client, owner, gid, mp4(KiB))
    track = (await add_raw(client, owner, video, VTT)).json()
    me = (await client.get("/api/v1/users/me", headers=owner.headers)).json()
    assert me["storage"]["used"] == KiB + track["size"]
    big = b"WEBVTT\n\n" + b"00:01.000 --> 00:02.000\nsome words to fill\n\n" * 40
    refused = await add_raw(client, owner, video, big)
    assert refused.status_code == 409
    assert refused.json()["code"] == "quota_exceeded"
    assert [t["id"] for t in (await client.get(subtitles_path(video), headers=owner.headers)).json()] == [
        track["id"]
    ]


async def test_members_hear_each_change_as_video_updated(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    video = await upload(client, owner, gid, mp4(KiB))
    socket = AsgiWebSocket(client.app, f"/ws/group/{gid}", f"token={member.access_token}&events=all")
    async with socket:
        await socket.until(lambda frame: frame["type"] == "subscribed")
        track = (await add_raw(client, owner, video, VTT, label="English")).json()
        added = await socket.until(lambda frame: frame["type"] == "video_updated")
        await client.delete(f"{subtitles_path(video)}/{track['id']}", headers=owner.headers)
        removed = await socket.until(lambda frame: frame["type"] == "video_updated")
    assert added["video"]["id"] == video["id"]
    assert [t["label"] for t in added["video"]["subtitles"]] == ["English"]
    assert "url" not in added["video"]["subtitles"][0]  # signed per viewer: GET the video for one
    assert removed["video"]["subtitles"] == []
