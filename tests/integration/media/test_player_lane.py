"""The players' lane (app/server/player_lane.py): a signed range of a video is answered before the
router exactly as the stream route answers it, and everything else is left to the route.

Which of the two answered is read from `huddle_player_lane_answers_total`; the route's answer to the
same request is had by adding a query parameter the route ignores and the lane does not take."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import AppClient
from tests.helpers import register
from tests.integration.media.videos import KiB, add_member, group_with_owner, mp4, upload

pytestmark = pytest.mark.anyio

SIZE = 300 * KiB
VARYING = {"date", "x-request-id"}


async def lane_answers(client: AppClient) -> float:
    text = (await client.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "huddle_player_lane_answers_total"
    )


async def by_lane(client: AppClient, url: str, **headers: str) -> httpx.Response:
    before = await lane_answers(client)
    response = await client.get(url, headers=headers)
    assert await lane_answers(client) == before + 1, f"the lane did not answer {url} {headers}"
    return response


async def by_route(client: AppClient, method: str, url: str, **headers: str) -> httpx.Response:
    before = await lane_answers(client)
    response = await client.request(method, url, headers=headers)
    assert await lane_answers(client) == before, f"the lane answered {method} {url} {headers}"
    return response


def same(lane: httpx.Response, route: httpx.Response) -> None:
    assert lane.status_code == route.status_code
    assert _fixed(lane.content, lane) == _fixed(route.content, route)
    assert {k: _fixed(v, lane) for k, v in lane.headers.items() if k not in VARYING} == {
        k: _fixed(v, route) for k, v in route.headers.items() if k not in VARYING
    }


def _fixed(value: Any, response: httpx.Response) -> Any:
    """A multipart answer's boundary is random: named the same in both before comparing."""
    _, _, boundary = response.headers.get("content-type", "").partition("boundary=")
    if not boundary:
        return value
    return (
        value.replace(boundary.encode(), b"B") if isinstance(value, bytes) else value.replace(boundary, "B")
    )


@pytest.fixture
async def video(client: AppClient) -> tuple[dict[str, Any], bytes]:
    owner, gid = await group_with_owner(client)
    data = mp4(SIZE, seed=4)
    return await upload(client, owner, gid, data, "night film.mp4"), data


async def test_a_players_range_is_answered_as_the_route_answers_it(
    client: AppClient, video: tuple[dict[str, Any], bytes]
) -> None:
    uploaded, data = video
    url = uploaded["stream_url"]
    whole = await by_lane(client, url)
    etag, modified = whole.headers["etag"], whole.headers["last-modified"]
    requests: list[dict[str, str]] = [
        {},
        {"range": "bytes=1000-1999"},
        {"range": "bytes=5000-"},
        {"range": "bytes=-700"},
        {"range": "bytes=0-9,100-109"},
        {"range": f"bytes={SIZE + 5}-"},  # 416 from the service: the route says it
        {"range": "bytes=10-19", "if-range": etag},
        {"range": "bytes=10-19", "if-range": '"another"'},
        {"if-none-match": etag},
        {"if-modified-since": modified},
    ]
    for headers in requests:
        route = await by_route(client, "GET", f"{url}&via=route", **headers)
        if route.status_code == 416:
            await by_route(client, "GET", url, **headers)
            continue
        same(await by_lane(client, url, **headers), route)
    assert (await by_lane(client, url, range="bytes=1000-1999")).content == data[1000:2000]
    assert whole.content == data
    assert whole.headers["content-security-policy"] == "sandbox"  # the route's own, not the pages'
    assert whole.headers["x-frame-options"] == "DENY"  # the security headers still apply
    # An explicit quality=original is the same link.
    same(await by_lane(client, f"{url}&quality=original"), await by_route(client, "GET", f"{url}&via=route"))


async def test_the_lane_leaves_the_rest_to_the_route(
    client: AppClient, video: tuple[dict[str, Any], bytes]
) -> None:
    uploaded, _ = video
    url = uploaded["stream_url"]
    path, query = url.split("?")
    params = dict(pair.split("=") for pair in query.split("&"))
    flipped = params["sig"][:-1] + ("A" if params["sig"][-1] != "A" else "B")
    cases: list[tuple[str, str, dict[str, str], int]] = [
        ("HEAD", url, {}, 200),
        ("GET", url, {"origin": "https://elsewhere.example"}, 200),  # CORS is the route's
        ("GET", url.replace(params["sig"], flipped), {}, 403),
        ("GET", f"{url}&uid={params['uid']}", {}, 200),  # a repeated parameter: the route reads the last
        ("GET", f"{url}&quality=360p", {}, 403),  # not signed for that quality (and not made)
        ("GET", f"{url}&quality=4k", {}, 400),
        ("GET", path, {}, 401),
        ("GET", f"{path}?uid={params['uid']}&exp={params['exp']}", {}, 403),
        ("GET", f"{url}%00", {}, 400),
        ("GET", url.replace(f"/videos/{uploaded['id']}/", "/videos/99999999/"), {}, 404),
    ]
    for method, target, headers, status in cases:
        response = await by_route(client, method, target, **headers)
        assert response.status_code == status, (method, target, headers, response.text)
        if status >= 400:
            assert response.json()["code"]  # the route's error body


async def test_a_removed_member_is_refused_by_the_route(client: AppClient) -> None:
    owner, gid = await group_with_owner(client)
    member = await register(client, "Member")
    await add_member(client, owner, gid, member)
    uploaded = await upload(client, owner, gid, mp4(KiB))
    mine = (await client.get(f"/api/v1/videos/{uploaded['id']}", headers=member.headers)).json()
    await by_lane(client, mine["stream_url"], range="bytes=0-9")
    removed = await client.request(
        "DELETE", f"/api/v1/groups/{gid}/members", json={"email": member.email}, headers=owner.headers
    )
    assert removed.status_code == 204
    refused = await by_route(client, "GET", mine["stream_url"], range="bytes=0-9")
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
