"""Generated hostile input: every operation in the OpenAPI document gets bodies and parameters no
well-behaved client sends, signed in and not, on SQLite and on PostgreSQL + Redis. Every answer is
below 500. It complements tests/e2e/test_schemathesis.py with inputs schemathesis does not generate
(invalid UTF-8, deep nesting, NUL, huge numbers). Socket frames: tests/integration/test_hostile_frames.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from app.config import Settings
from tests.conftest import AppClient
from tests.helpers import Account, register
from tests.integration.media.videos import mp4

pytestmark = pytest.mark.anyio

NESTED = b"[" * 3000 + b"]" * 3000
HOSTILE_BODIES: dict[str, bytes] = {
    "invalid utf-8": b'{"name": "\xff\xfe\xfd", "text": "\xc3\x28", "email": "\xe2\x82"}',
    "3,000-deep nesting": b'{"name": ' + NESTED + b"}",
    "NUL in every string": b"",  # made per operation: every field holds a NUL
    "400-digit number": b"",  # likewise, every field a 400-digit number
    "array for an object": b"[1, 2, 3]",
}
NUL = "a\x00b"
HUGE = "9" * 400
PARAMETER_VALUES = {"NUL": NUL, "400 digits": HUGE, "long text": "x" * 5000, "negative": "-1"}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation), deletions last so the others still find what they act on."""
    found = [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "head", "post", "put", "patch", "delete"}
    ]
    yield from sorted(found, key=lambda entry: entry[0] == "DELETE")


def body_fields(schema: dict[str, Any], operation: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The request body's media type and its top-level field names."""
    content = operation.get("requestBody", {}).get("content", {})
    if not content:
        return None, []
    media_type, spec = next(iter(content.items()))
    body = spec.get("schema", {})
    if "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return media_type, list(body.get("properties", {}))


class World:
    """An account that owns a group with a message and a video, and the ids to fill paths with."""

    def __init__(self, client: AppClient) -> None:
        self.client = client

    async def build(self) -> World:
        self.owner: Account = await register(self.client, "Owner")
        group = await self.client.post("/groups", json={"name": "Hostile"}, headers=self.owner.headers)
        self.group = group.json()["id"]
        await self.client.post(
            f"/api/v1/groups/{self.group}/messages", json={"text": "hi"}, headers=self.owner.headers
        )
        video = await self.client.post(
            f"/api/upload?group_id={self.group}",
            files={"file": ("clip.mp4", mp4(4096), "video/mp4")},
            headers=self.owner.headers,
        )
        assert video.status_code in {200, 201}, video.text
        self.video = video.json()
        upload = await self.client.post(
            "/api/v1/uploads",
            json={"name": "a.mp4", "size": 1000, "group_id": self.group},
            headers=self.owner.headers,
        )
        self.upload = upload.json()["id"]
        return self

    def value(self, name: str) -> str:
        """A real value for a path parameter, so requests reach the handlers' bodies."""
        known = {
            "group_id": self.group,
            "user_id": self.owner.user["id"],
            "seq": 1,
            "emoji": quote("👍"),
            "video_id": self.video["id"],
            "video_name": self.video["name"],
            "upload_id": self.upload,
            "index": 0,
        }
        return str(known.get(name, 1))

    async def headers(self, signed_in: bool) -> dict[str, str]:
        if not signed_in:
            return {}
        me = await self.client.get("/users/me", headers=self.owner.headers)
        if me.status_code == 401:  # an operation signed the account out (logout): sign in again
            self.owner = await register(self.client, "Owner again")
        return self.owner.headers


def fill_path(path: str, operation: dict[str, Any], world: World, hostile: dict[str, str]) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            name = parameter["name"]
            value = hostile.get(name, world.value(name))
            path = path.replace("{" + name + "}", quote(value, safe="%"))
    return path


def bodies(media_type: str | None, fields: list[str]) -> Iterator[tuple[str, bytes | dict[str, str]]]:
    names = fields or ["name"]
    if media_type in FORM_TYPES:
        yield "NUL in every field", dict.fromkeys(names, NUL)
        yield "400 digits in every field", dict.fromkeys(names, HUGE)
        yield "invalid utf-8", b"username=%FF%FE&password=%C3%28"
        return
    per_field = {"NUL in every string": '"a\\u0000b"', "400-digit number": HUGE}
    for label, body in HOSTILE_BODIES.items():
        if label in per_field:
            value = per_field[label]
            yield label, ("{" + ", ".join(f'"{name}": {value}' for name in names) + "}").encode()
        else:
            yield label, body


async def send(
    client: AppClient, method: str, path: str, headers: dict[str, str], body: bytes | dict[str, str] | None
) -> Any:
    if isinstance(body, dict):
        return await client.request(method, path, data=body, headers=headers)
    if body is not None:
        headers = headers | {"content-type": "application/json"}
    return await client.request(method, path, content=body, headers=headers)


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "anonymous"])
async def test_no_body_or_parameter_gets_a_500(client: AppClient, signed_in: bool) -> None:
    world = await World(client).build()
    schema = (await client.get("/schema/openapi.json")).json()
    failures: list[str] = []
    for method, path, operation in operations(schema):
        media_type, fields = body_fields(schema, operation)
        attempts: list[tuple[str, str, bytes | dict[str, str] | None]] = []
        if media_type is not None and media_type != "application/octet-stream":
            target = fill_path(path, operation, world, {})
            attempts += [(label, target, body) for label, body in bodies(media_type, fields)]
        for parameter in operation.get("parameters", []):
            name, where = parameter["name"], parameter["in"]
            for label, value in PARAMETER_VALUES.items():
                if where == "path":
                    attempts.append(
                        (f"{label} in {name}", fill_path(path, operation, world, {name: value}), None)
                    )
                elif where == "query":
                    target = fill_path(path, operation, world, {})
                    attempts.append((f"{label} in ?{name}", f"{target}?{name}={quote(value)}", None))
        for label, target, body in attempts:
            response = await send(client, method, target, await world.headers(signed_in), body)
            if response.status_code >= 500:
                failures.append(f"{method} {path} [{label}]: {response.status_code} {response.text[:120]}")
    assert not failures, "\n".join(failures)


async def test_a_nul_in_text_is_refused_on_both_databases(client: AppClient, settings: Settings) -> None:
    """The fields the issue named, each refused with 400 rather than stored or failed on."""
    world = await World(client).build()
    headers = world.owner.headers
    group = f"/api/v1/groups/{world.group}"
    refused = [
        await client.post(f"{group}/messages", json={"text": NUL}, headers=headers),
        await client.post("/groups", json={"name": "ok", "description": NUL}, headers=headers),
        await client.patch(group, json={"name": NUL}, headers=headers),
        await client.patch("/api/v1/users/me", json={"status_message": NUL}, headers=headers),
        await client.post("/register", json={"email": "nul@example.com", "name": NUL, "password": "x" * 10}),
        await client.post("/token", data={"username": NUL, "password": "x" * 10}),
        await client.get("/api/v1/users", params={"q": NUL}, headers=headers),
        await client.get("/api/v1/messages/search", params={"q": NUL}, headers=headers),
        await client.get(f"/api/stream/{quote(NUL)}", params={"group_id": world.group}, headers=headers),
    ]
    assert [response.status_code for response in refused] == [400] * len(refused), [
        response.text for response in refused
    ]
