"""Bad input, one table: every case gets its exact status, and a refused request stores nothing (the
group's messages, members and videos are counted before and after). Runs on SQLite and on
PostgreSQL + Redis. WebSocket bad input is in tests/e2e/test_gateway.py (it needs a real server)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from app.config import Settings
from tests.conftest import SECRET, AppClient
from tests.helpers import PASSWORD, Account, bearer, register
from tests.integration.accounts.test_bad_tokens import FORGERIES
from tests.integration.media.videos import HTML, mp4

pytestmark = pytest.mark.anyio
MAX_UPLOAD = 64 * 1024


@dataclass
class World:
    client: AppClient
    owner: Account
    member: Account
    stranger: Account
    group: int
    other_group: int
    seq: int  # a chat message in `group`
    video: dict[str, Any]  # a video in `group`
    other_video: dict[str, Any]  # a video in `other_group` (the stranger's)

    async def counts(self) -> tuple[int, int, int]:
        history = await self.client.get(
            f"/messages?group_id={self.group}&limit=100", headers=self.owner.headers
        )
        members = await self.client.get(f"/api/v1/groups/{self.group}/members", headers=self.owner.headers)
        videos = await self.client.get(f"/api/v1/groups/{self.group}/videos", headers=self.owner.headers)
        return len(history.json()), len(members.json()), len(videos.json())


Case = Callable[[World], Awaitable[Any]]


def req(method: str, path: str, who: str = "owner", **kwargs: Any) -> Case:
    async def run(world: World) -> Any:
        account: Account = getattr(world, who)
        headers = account.headers | kwargs.get("headers", {})
        rest = {k: v for k, v in kwargs.items() if k != "headers"}
        return await world.client.request(method, path.format(w=world), headers=headers, **rest)

    return run


def token_case(forgery: str) -> Case:
    async def run(world: World) -> Any:
        token = FORGERIES[forgery](world.member)
        return await world.client.get("/users/me", headers={"Authorization": f"Bearer {token}".encode()})

    return run


async def revoked_token(world: World) -> Any:
    fresh = await world.client.post("/token", data={"username": world.member.email, "password": PASSWORD})
    token = fresh.json()["access_token"]
    await world.client.post("/api/v1/auth/logout", headers=bearer(token))
    return await world.client.get("/users/me", headers=bearer(token))


async def deleted_user(world: World) -> Any:
    gone = await register(world.client, "Gone")
    await world.client.request(
        "DELETE", "/api/v1/users/me", headers=gone.headers, json={"password": PASSWORD}
    )
    return await world.client.get("/users/me", headers=gone.headers)


async def removed_member_reads(world: World) -> Any:
    """Set up in a group of its own: the add and leave notices must not count as stored input."""
    extra = await register(world.client, "Extra")
    headers = world.owner.headers
    side = (await world.client.post("/groups", json={"name": "Side"}, headers=headers)).json()["id"]
    await world.client.post(f"/groups/{side}/members", json={"email": extra.email}, headers=headers)
    await world.client.delete(f"/api/v1/groups/{side}/members/{extra.user['id']}", headers=headers)
    return await world.client.get(f"/api/v1/groups/{side}/messages", headers=extra.headers)


def stream_with(source: str) -> Case:
    """The signed URL of one video used for another (a signature is bound to its video)."""

    async def run(world: World) -> Any:
        signed = world.other_video["stream_url"] if source == "other" else world.video["stream_url"]
        query = signed.split("?", 1)[1]
        target = world.video["id"] if source == "other" else world.other_video["id"]
        return await world.client.get(f"/api/v1/videos/{target}/stream?{query}", headers={})

    return run


async def tampered_signature(world: World) -> Any:
    path, query = world.video["stream_url"].split("?", 1)
    params = dict(part.split("=", 1) for part in query.split("&"))
    params["sig"] = params["sig"][::-1]
    return await world.client.get(path + "?" + "&".join(f"{k}={v}" for k, v in params.items()), headers={})


async def expired_signature(world: World) -> Any:
    path, query = world.video["stream_url"].split("?", 1)
    params = dict(part.split("=", 1) for part in query.split("&"))
    params["exp"] = str(int(dt.datetime.now(dt.UTC).timestamp()) - 60)
    return await world.client.get(path + "?" + "&".join(f"{k}={v}" for k, v in params.items()), headers={})


async def upload_session(world: World, size: int = 1000) -> str:
    created = await world.client.post(
        "/api/v1/uploads",
        json={"name": "a.mp4", "size": size, "group_id": world.group},
        headers=world.owner.headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def chunk_out_of_range(world: World) -> Any:
    upload_id = await upload_session(world)
    return await world.client.put(
        f"/api/v1/uploads/{upload_id}/chunks/5", content=mp4(1000), headers=world.owner.headers
    )


async def complete_with_missing_chunk(world: World) -> Any:
    upload_id = await upload_session(world)
    return await world.client.post(f"/api/v1/uploads/{upload_id}/complete", headers=world.owner.headers)


async def duplicate_chunk(world: World) -> Any:
    upload_id = await upload_session(world)
    path = f"/api/v1/uploads/{upload_id}/chunks/0"
    await world.client.put(path, content=mp4(1000), headers=world.owner.headers)
    return await world.client.put(path, content=mp4(1000), headers=world.owner.headers)  # a retry


async def wrong_magic_chunk(world: World) -> Any:
    upload_id = await upload_session(world, size=len(HTML))
    return await world.client.put(
        f"/api/v1/uploads/{upload_id}/chunks/0", content=HTML, headers=world.owner.headers
    )


async def attachment_chunk(world: World, data: bytes, name: str = "page.png") -> Any:
    created = await world.client.post(
        "/api/v1/uploads",
        json={"name": name, "size": len(data), "group_id": world.group, "purpose": "attachment"},
        headers=world.owner.headers,
    )
    assert created.status_code == 201, created.text
    return await world.client.put(
        f"/api/v1/uploads/{created.json()['id']}/chunks/0", content=data, headers=world.owner.headers
    )


def attachment_of(data: bytes, name: str) -> Case:
    return lambda world: attachment_chunk(world, data, name)


def upload_file(name: str, data: bytes) -> Case:
    return req("POST", "/api/v1/groups/{w.group}/videos", files={"file": (name, data, "video/mp4")})


def stream_range(value: str) -> Case:
    async def run(world: World) -> Any:
        return await world.client.get(
            f"/api/v1/videos/{world.video['id']}/stream", headers=world.owner.headers | {"Range": value}
        )

    return run


def refresh_as(kind: str) -> Case:
    async def run(world: World) -> Any:
        payload = jwt.decode(world.member.refresh_token, options={"verify_signature": False})
        payload["kind"] = kind
        forged = jwt.encode(payload, SECRET, algorithm="HS256")
        return await world.client.post("/api/v1/auth/refresh", json={"refresh_token": forged})

    return run


CASES: dict[str, tuple[Case, int]] = {
    # authentication
    "alg none": (token_case("alg none"), 401),
    "wrong algorithm": (token_case("wrong algorithm"), 401),
    "tampered token": (token_case("tampered payload"), 401),
    "expired token": (token_case("expired"), 401),
    "future iat": (token_case("future iat"), 401),
    "refresh token as access": (token_case("refresh used as access"), 401),
    "access token as refresh": (refresh_as("access"), 401),
    "revoked token": (revoked_token, 401),
    "deleted user": (deleted_user, 401),
    # passwords
    "very long password": (
        req("POST", "/api/v1/auth/login", json={"email": "a@b.co", "password": "p" * 5000}),
        400,
    ),
    "short new password": (
        req(
            "POST", "/api/v1/users/me/password", json={"current_password": PASSWORD, "new_password": "short"}
        ),
        400,
    ),
    "non-ASCII and NUL password sign-in": (
        req("POST", "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "пароль\x00ñ"}),
        401,
    ),
    # access control
    "non-member reads group": (req("GET", "/api/v1/groups/{w.group}", who="stranger"), 404),
    "non-member reads history": (req("GET", "/messages?group_id={w.group}", who="stranger"), 404),
    "non-member writes": (
        req("POST", "/api/v1/groups/{w.group}/messages", who="stranger", json={"text": "hi"}),
        404,
    ),
    "non-member lists members": (req("GET", "/api/v1/groups/{w.group}/members", who="stranger"), 404),
    "non-member adds a member": (
        req("POST", "/groups/{w.group}/members", who="stranger", json={"email": "x@example.com"}),
        404,
    ),
    "non-member reacts": (
        req("PUT", "/api/v1/groups/{w.group}/messages/{w.seq}/reactions/x", who="stranger"),
        404,
    ),
    "non-member lists videos": (req("GET", "/api/v1/groups/{w.group}/videos", who="stranger"), 404),
    "another group's video": (req("GET", "/api/v1/videos/{w.other_video[id]}/stream"), 404),
    "another video's signature": (stream_with("other"), 403),
    "tampered signature": (tampered_signature, 403),
    "expired signature": (expired_signature, 403),
    "removed member reads": (removed_member_reads, 404),
    "member edits another's message": (
        req("PATCH", "/api/v1/groups/{w.group}/messages/{w.seq}", who="member", json={"text": "mine now"}),
        403,
    ),
    "member deletes a video they did not upload": (
        req("DELETE", "/api/v1/videos/{w.video[id]}", who="member"),
        403,
    ),
    # messages
    "empty text": (req("POST", "/api/v1/groups/{w.group}/messages", json={"text": ""}), 400),
    "10,001 characters": (req("POST", "/api/v1/groups/{w.group}/messages", json={"text": "x" * 10_001}), 400),
    "reply to another group's message": (
        req("POST", "/api/v1/groups/{w.group}/messages", json={"text": "re", "reply_to": 999_999}),
        404,
    ),
    "bad cursor": (req("GET", "/api/v1/groups/{w.group}/messages?before_seq=abc"), 400),
    "20-digit id": (req("GET", "/api/v1/groups/99999999999999999999"), 400),
    "malformed JSON": (
        req(
            "POST",
            "/api/v1/groups/{w.group}/messages",
            content=b"{",
            headers={"Content-Type": "application/json"},
        ),
        400,
    ),
    # uploads
    "wrong magic bytes": (upload_file("clip.mp4", HTML), 415),
    "oversize upload": (upload_file("big.mp4", mp4(MAX_UPLOAD + 1)), 413),
    "unknown upload session": (req("PUT", f"/api/v1/uploads/{uuid.uuid4()}/chunks/0", content=b"x"), 404),
    "chunk index out of range": (chunk_out_of_range, 400),
    "complete with a missing chunk": (complete_with_missing_chunk, 409),
    "duplicate chunk is a safe retry": (duplicate_chunk, 200),
    "wrong magic bytes in chunk 0": (wrong_magic_chunk, 415),
    "HTML attachment named .png": (attachment_of(HTML, "page.png"), 415),
    "SVG attachment": (
        attachment_of(b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "a.svg"),
        415,
    ),
    "video as an attachment": (attachment_of(mp4(1000), "clip.mp4"), 415),
    "unknown upload purpose": (
        req("POST", "/api/v1/uploads", json={"name": "a", "size": 1, "group_id": 1, "purpose": "avatar"}),
        400,
    ),
    "attachment from nowhere": (
        req("POST", "/api/v1/groups/{w.group}/messages", json={"text": "see", "attachment_ids": [999_999]}),
        404,
    ),
    "eleven attachments": (
        req(
            "POST",
            "/api/v1/groups/{w.group}/messages",
            json={"text": "many", "attachment_ids": list(range(1, 12))},
        ),
        400,
    ),
    "message with nothing in it": (
        req("POST", "/api/v1/groups/{w.group}/messages", json={"attachment_ids": []}),
        400,
    ),
    "attachment of a stranger's group": (req("GET", "/api/v1/attachments/999999", who="stranger"), 404),
    "attachment with a forged signature": (
        req("GET", "/api/v1/attachments/1?exp=99999999999&sig=forged"),
        403,
    ),
    # ranges
    "hundreds of overlapping ranges": (
        stream_range("bytes=" + ",".join(f"{i}-{i + 10}" for i in range(300))),
        200,
    ),
    "20-digit range": (stream_range("bytes=99999999999999999999-"), 416),
    "inverted range": (stream_range("bytes=500-100"), 200),
    "unsatisfiable suffix": (stream_range("bytes=-0"), 416),
    "other unit": (stream_range("items=0-1"), 200),
}


@pytest.fixture
def small_uploads(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(max_upload_bytes=MAX_UPLOAD)


@pytest.fixture
async def world(make_client: Callable[[Settings], Any], small_uploads: Settings) -> World:
    client: AppClient = await make_client(small_uploads)
    owner, member, stranger = [await register(client, name) for name in ("Owner", "Member", "Stranger")]
    group = (await client.post("/groups", json={"name": "Main"}, headers=owner.headers)).json()["id"]
    await client.post(f"/groups/{group}/members", json={"email": member.email}, headers=owner.headers)
    other_group = (await client.post("/groups", json={"name": "Theirs"}, headers=stranger.headers)).json()[
        "id"
    ]
    sent = await client.post(
        f"/api/v1/groups/{group}/messages", json={"text": "hello"}, headers=owner.headers
    )

    async def video(who: Account, group_id: int) -> dict[str, Any]:
        response = await client.post(
            f"/api/v1/groups/{group_id}/videos",
            files={"file": ("clip.mp4", mp4(4096), "video/mp4")},
            headers=who.headers,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    return World(
        client,
        owner,
        member,
        stranger,
        group,
        other_group,
        sent.json()["seq"],
        await video(owner, group),
        await video(stranger, other_group),
    )


def test_the_table_has_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_input(world: World, name: str) -> None:
    case, status = CASES[name]
    before = await world.counts()
    response = await case(world)
    assert response.status_code == status, response.text
    if status >= 400:
        body = response.json()
        assert body["status_code"] == status
        assert body["code"]
        assert await world.counts() == before  # nothing stored
