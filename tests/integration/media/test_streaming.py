"""Streaming through the real endpoints: authorization (bearer, signed URLs), ranges byte for byte,
conditional requests, the seed's stream-by-name, and pathsend for whole local files."""

from __future__ import annotations

import random
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from app.db.models.media import Video
from app.domain.shared.signing import StreamSigner
from tests.conftest import SECRET, AppClient
from tests.helpers import Account, register
from tests.integration.media.videos import (
    KiB,
    add_member,
    blob_key_of,
    group_with_owner,
    mp4,
    new_group,
    upload,
)

pytestmark = pytest.mark.anyio

SIZE = 600 * KiB  # several read windows on both stores


@pytest.fixture
async def served(client: AppClient) -> tuple[Account, int, dict[str, Any], bytes]:
    owner, gid = await group_with_owner(client)
    data = mp4(SIZE, seed=9)
    return owner, gid, await upload(client, owner, gid, data, "film.mp4"), data


def signed_parts(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    return split.path, {key: values[0] for key, values in parse_qs(split.query).items()}


# -- authorization ------------------------------------------------------------------------------------


def forged(sig: str) -> str:
    """The signature with its first character changed (one in 64 starts with any given character)."""
    return ("B" if sig[0] == "A" else "A") + sig[1:]


async def test_a_signed_url_plays_without_headers(
    client: AppClient, served: tuple[Account, int, dict[str, Any], bytes]
) -> None:
    _, _, video, data = served
    whole = await client.get(video["stream_url"])
    assert whole.status_code == 200
    assert whole.content == data
    part = await client.get(video["stream_url"], headers={"range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == data[100:200]
    head = await client.head(video["stream_url"])
    assert (head.status_code, head.headers["content-length"], head.content) == (200, str(SIZE), b"")
    path, params = signed_parts(video["stream_url"])
    assert path == f"/api/v1/videos/{video['id']}/stream"
    assert set(params) == {"uid", "exp", "sig"}
    lifetime = int(params["exp"]) - time.time()
    assert 4 * 3600 - 5 < lifetime <= 4 * 3600 + 300  # STREAM_URL_TTL, rounded up to 5 minutes


async def test_expired_and_tampered_signatures_are_403(
    client: AppClient, served: tuple[Account, int, dict[str, Any], bytes]
) -> None:
    owner, gid, video, _ = served
    other_video = await upload(client, owner, gid, mp4(KiB, seed=2), "other.mp4")
    path, good = signed_parts(video["stream_url"])
    signer = StreamSigner(SECRET, 3600)
    key = await blob_key_of(client, Video, video["id"])
    expired_query, _ = signer.sign(video["id"], owner.user["id"], key=key, now=time.time() - 2 * 3600)
    expired = {key: values[0] for key, values in parse_qs(expired_query).items()}
    _, other = signed_parts(other_video["stream_url"])
    stranger = await register(client, "Stranger")
    cases = {
        "expired": expired,
        "later expiry": good | {"exp": str(int(good["exp"]) + 300)},
        "flipped signature": good | {"sig": forged(good["sig"])},
        "another user": good | {"uid": str(stranger.user["id"])},
        "another video's signature": other,
        "no signature": {"uid": good["uid"], "exp": good["exp"]},
        "empty signature": good | {"sig": ""},
        "20-digit expiry": good | {"exp": "12345678901234567890"},
        "5000-digit uid": good | {"uid": "9" * 5000},
        "non-ascii digits": good | {"exp": "١٢٣"},
        "weird signature": good | {"sig": "ü💥"},  # with a NUL: 400, as NUL anywhere in a query
    }
    for label, params in cases.items():
        for method in ("GET", "HEAD"):
            response = await client.request(method, path, params=params)
            assert response.status_code == 403, (label, method, response.status_code)
        assert (await client.get(path, params=params)).json()["code"] == "forbidden", label
    # A signed URL is judged by its signature alone, even beside a valid bearer token.
    tampered = await client.get(path, params=cases["flipped signature"], headers=owner.headers)
    assert tampered.status_code == 403


async def shared_video(client: AppClient) -> tuple[Account, int, Account, dict[str, Any], dict[str, Any]]:
    """Owner, group, a member, the video as the owner sees it and as the member does (own stream_url)."""
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    video = await upload(client, owner, gid, mp4(KiB))
    mine = (await client.get(f"/api/v1/videos/{video['id']}", headers=member.headers)).json()
    return owner, gid, member, video, mine


async def test_signed_urls_end_with_membership_and_with_the_video(client: AppClient) -> None:
    owner, gid, member, video, mine = await shared_video(client)
    assert (await client.get(mine["stream_url"])).status_code == 200
    removed = await client.request(
        "DELETE", f"/api/v1/groups/{gid}/members", json={"email": member.email}, headers=owner.headers
    )
    assert removed.status_code == 204
    assert (await client.get(mine["stream_url"])).status_code == 403
    assert (await client.get(video["stream_url"])).status_code == 200  # the owner's grant, remembered
    assert (await client.delete(f"/api/v1/videos/{video['id']}", headers=owner.headers)).status_code == 204
    assert (await client.get(video["stream_url"])).status_code == 404


async def test_a_deleted_account_stops_streaming_at_once(client: AppClient) -> None:
    _, _, member, _, mine = await shared_video(client)
    assert (await client.get(mine["stream_url"], headers={"range": "bytes=0-9"})).status_code == 206
    gone = await client.request(
        "DELETE", "/api/v1/users/me", json={"password": member.password}, headers=member.headers
    )
    assert gone.status_code == 204
    assert (await client.get(mine["stream_url"], headers={"range": "bytes=0-9"})).status_code == 403


async def test_streams_need_a_credential(
    client: AppClient, served: tuple[Account, int, dict[str, Any], bytes]
) -> None:
    _, _, video, _ = served
    path = f"/api/v1/videos/{video['id']}/stream"
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers={"authorization": "Bearer nonsense"})).status_code == 401
    stranger = await register(client, "Stranger")
    assert (await client.get(path, headers=stranger.headers)).status_code == 404


# -- ranges through the endpoint ----------------------------------------------------------------------


async def test_random_ranges_are_byte_exact(
    client: AppClient, served: tuple[Account, int, dict[str, Any], bytes]
) -> None:
    owner, _, video, data = served
    rng = random.Random(11)
    for _ in range(25):
        start = rng.randrange(SIZE)
        end = rng.randrange(start, min(SIZE, start + 300 * KiB))
        response = await client.get(video["stream_url"], headers={"range": f"bytes={start}-{end}"})
        assert response.status_code == 206
        assert response.content == data[start : end + 1], (start, end)
        assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
        assert response.headers["content-length"] == str(end - start + 1)
    suffix = await client.get(video["stream_url"], headers={"range": "bytes=-1000"})
    assert suffix.content == data[-1000:]
    opened = await client.get(video["stream_url"], headers={"range": f"bytes={SIZE - 70_000}-"})
    assert opened.content == data[SIZE - 70_000 :]
    bearer = await client.get(
        f"/api/v1/videos/{video['id']}/stream", headers=owner.headers | {"range": "bytes=5-9"}
    )
    assert bearer.content == data[5:10]


async def test_several_ranges_are_multipart(
    client: AppClient, served: tuple[Account, int, dict[str, Any], bytes]
) -> None:
    _, _, video, data = served
    response = await client.get(video["stream_url"], headers={"range": "bytes=0-9,500000-500099,-5"})
    assert response.status_code == 206
    boundary = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", response.headers["content-type"])
    assert boundary is not None
    parts = response.content.split(f"--{boundary.group(1)}".encode())[1:-1]
    bodies = [part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for part in parts]
    assert bodies == [data[0:10], data[500_000:500_100], data[-5:]]
    assert int(response.headers["content-length"]) == len(response.content)


async def test_two_hundred_ranges_get_the_whole_file(
    client: AppClient, served: tuple[Account, int, dict[str, Any], bytes]
) -> None:
    _, _, video, data = served
    header = "bytes=" + ",".join(f"{n * 2000}-{n * 2000 + 10}" for n in range(200))
    response = await client.get(video["stream_url"], headers={"range": header})
    assert response.status_code == 200
    assert response.content == data


async def test_twenty_digit_numbers(
    client: AppClient, served: tuple[Account, int, dict[str, Any], bytes]
) -> None:
    owner, _, video, data = served
    huge = "99999999999999999999"
    clamped = await client.get(video["stream_url"], headers={"range": f"bytes=10-{huge}"})
    assert (clamped.status_code, clamped.content) == (206, data[10:])
    past = await client.get(video["stream_url"], headers={"range": f"bytes={huge}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{SIZE}"
    whole = await client.get(video["stream_url"], headers={"range": f"bytes=-{huge}{huge}"})
    assert (whole.status_code, whole.content) == (206, data)
    for path in (f"/api/v1/videos/{huge}", f"/api/v1/videos/{huge}/stream", f"/api/v1/groups/{huge}/videos"):
        response = await client.get(path, headers=owner.headers)
        assert response.status_code == 400, path
    assert (await client.get(f"/api/stream/{huge}", headers=owner.headers)).status_code == 404
    listed = await client.get("/api/videos", params={"group_id": huge}, headers=owner.headers)
    assert listed.status_code == 400


async def test_validators_and_conditional_requests(
    client: AppClient, served: tuple[Account, int, dict[str, Any], bytes]
) -> None:
    _, _, video, data = served
    first = await client.get(video["stream_url"])
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert first.headers["accept-ranges"] == "bytes"
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["cache-control"].startswith("private")
    assert (await client.get(video["stream_url"], headers={"if-none-match": etag})).status_code == 304
    matching = await client.get(video["stream_url"], headers={"range": "bytes=0-4", "if-range": etag})
    assert (matching.status_code, matching.content) == (206, data[:5])
    stale = await client.get(video["stream_url"], headers={"range": "bytes=0-4", "if-range": '"old"'})
    assert (stale.status_code, stale.content) == (200, data)
    dated = await client.get(video["stream_url"], headers={"range": "bytes=0-4", "if-range": modified})
    assert dated.status_code == 206
    malformed = await client.get(video["stream_url"], headers={"range": "bytes=oops"})
    assert (malformed.status_code, malformed.content) == (200, data)


async def test_whole_local_files_go_out_by_pathsend(
    client: AppClient, served: tuple[Account, int, dict[str, Any], bytes], media_store: str
) -> None:
    _, _, video, data = served
    path, query = video["stream_url"].split("?", 1)
    messages: list[dict[str, Any]] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await anyio.sleep_forever()  # the client stays: no disconnect
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "extensions": {"http.response.pathsend": {}},
    }
    await client.app(scope, receive, send)  # type: ignore[arg-type]
    assert messages[0]["status"] == 200
    if media_store == "local":
        assert [m["type"] for m in messages[1:]] == ["http.response.pathsend"]
        with open(messages[1]["path"], "rb") as handle:  # noqa: PTH123
            assert handle.read() == data
    else:  # Azure has no local file: streamed as chunks arrive
        assert b"".join(m.get("body", b"") for m in messages[1:]) == data


# -- the seed's stream by name ------------------------------------------------------------------------


async def test_seed_stream_by_name(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    data = mp4(3 * KiB, seed=4)
    video = await upload(client, owner, gid, data, "Our film.mp4")
    response = await client.get("/api/stream/Our film.mp4", headers=owner.headers | {"range": "bytes=0-99"})
    assert (response.status_code, response.content) == (206, data[:100])
    assert (await client.head("/api/stream/Our%20film.mp4", headers=owner.headers)).status_code == 200
    by_id = await client.get(f"/api/stream/{video['id']}", headers=owner.headers)
    assert by_id.content == data  # digits that name no video are read as an id
    assert (await client.get("/api/stream/nothing.mp4", headers=owner.headers)).status_code == 404
    assert (await client.get("/api/stream/Our film.mp4")).status_code == 401
    stranger = await register(client, "Stranger")
    assert (await client.get("/api/stream/Our film.mp4", headers=stranger.headers)).status_code == 404
    # The stream_url's signature works on the seed path too.
    _, params = signed_parts(video["stream_url"])
    assert (await client.get("/api/stream/Our film.mp4", params=params)).content == data
    assert (await client.get("/api/stream/other.mp4", params=params)).status_code == 403
    altered = params | {"sig": forged(params["sig"])}
    assert (await client.get("/api/stream/Our film.mp4", params=altered)).status_code == 403


async def test_seed_names_shared_by_two_groups_are_ambiguous(client: AppClient) -> None:
    owner, first = await group_with_owner(client)
    second = await new_group(client, owner, "Second")
    one = await upload(client, owner, first, mp4(KiB, seed=1), "same.mp4")
    two = await upload(client, owner, second, mp4(KiB, seed=2), "same.mp4")
    ambiguous = await client.get("/api/stream/same.mp4", headers=owner.headers)
    assert ambiguous.status_code == 409
    assert ambiguous.json()["extra"] == {
        "videos": [{"id": one["id"], "group_id": first}, {"id": two["id"], "group_id": second}]
    }
    narrowed = await client.get("/api/stream/same.mp4", params={"group_id": second}, headers=owner.headers)
    assert narrowed.content == mp4(KiB, seed=2)


async def test_a_signed_seed_link_keeps_its_video_when_the_name_comes_twice(client: AppClient) -> None:
    """The signature names the video: another group's video of the same name does not break it."""
    owner, first = await group_with_owner(client)
    one = await upload(client, owner, first, mp4(KiB, seed=1), "clip.mp4")
    _, params = signed_parts(one["stream_url"])
    assert (await client.get("/api/stream/clip.mp4", params=params)).content == mp4(KiB, seed=1)
    second = await new_group(client, owner, "Second")
    two = await upload(client, owner, second, mp4(KiB, seed=2), "clip.mp4")
    assert (await client.get("/api/stream/clip.mp4", params=params)).content == mp4(KiB, seed=1)
    _, other = signed_parts(two["stream_url"])
    assert (await client.get("/api/stream/clip.mp4", params=other)).content == mp4(KiB, seed=2)


# -- STREAM_OFFLOAD: every check first, then the bytes are handed over ---------------------------------


@pytest.fixture
def offload_settings(media_settings: Any, media_store: str) -> Any:
    return media_settings(stream_offload="nginx" if media_store == "local" else "azure-redirect")


async def test_offloaded_streams_are_authorized_first(make_client: Any, offload_settings: Any) -> None:
    offload = offload_settings.stream_offload
    client: AppClient = await make_client(offload_settings)
    owner, gid = await group_with_owner(client)
    data = mp4(SIZE, seed=11)
    video = await upload(client, owner, gid, data, "film.mp4")
    key = await blob_key_of(client, Video, video["id"])
    stream = f"/api/v1/videos/{video['id']}/stream"

    def handed_over(response: Any) -> bool:
        if offload == "nginx":
            return bool(response.headers.get("x-accel-redirect") == f"/_protected/{key}")
        return response.status_code == 307 and key in response.headers["location"]

    for headers, url in [({}, video["stream_url"]), (owner.headers, stream)]:  # signed, then bearer
        response = await client.get(url, headers={**headers, "range": "bytes=0-"})
        assert handed_over(response), response.headers
        if offload == "nginx":
            assert response.status_code == 200
            assert response.headers["content-type"] == "video/mp4"
            assert 'filename="film.mp4"' in response.headers["content-disposition"]
        else:
            assert response.headers["cache-control"] == "no-store"
    stranger = await register(client, "Stranger")
    path, params = signed_parts(video["stream_url"])
    refused = [
        await client.get(stream),  # 401
        await client.get(stream, headers=stranger.headers),  # 404
        await client.get(path, params={**params, "sig": forged(params["sig"])}),  # 403
        await client.get(stream, params={"quality": "360p"}, headers=owner.headers),  # 404: not made
    ]
    assert [r.status_code for r in refused] == [401, 404, 403, 404]
    assert not any(handed_over(r) for r in refused if r.status_code != 307)
    suffix = await client.get(video["stream_url"], headers={"range": "bytes=-10"})  # Huddle's own
    assert (suffix.status_code, suffix.content) == (206, data[-10:])
    # The page's policy admits the redirect's target for <video> and posters (CSP checks redirects).
    csp = (await client.get("/")).headers["content-security-policy"]
    if offload == "azure-redirect":
        split = urlsplit(response.headers["location"])
        assert f"media-src 'self' {split.scheme}://{split.netloc}" in csp
    else:
        assert "media-src" not in csp
