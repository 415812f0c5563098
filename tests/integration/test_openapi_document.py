"""The OpenAPI document says exactly what the server does, and the committed copy SDKs are generated
from (sdk/openapi.json, `make openapi`) is the server's own. Response shapes against real responses:
tests/e2e/test_schemathesis.py; a generated client against a real server: tests/e2e/test_python_sdk.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.server.app import create_app
from app.server.openapi_document import document_json
from tests.conftest import AppClient
from tests.helpers import register

COMMITTED = Path(__file__).parents[2] / "sdk" / "openapi.json"
METHODS = ("get", "post", "put", "patch", "delete", "head")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(COMMITTED.read_text(encoding="utf-8"))
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def named(schema: dict[str, Any]) -> bool:
    """A component, a list of one, or a choice between components."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return named(schema.get("items", {}))
    choices = schema.get("oneOf") or schema.get("anyOf")
    return bool(choices) and all(named(choice) for choice in choices)


def test_the_committed_document_is_the_servers_own() -> None:
    served = document_json(create_app(Settings(database_url="sqlite+aiosqlite://")).openapi_schema)
    assert json.loads(served) == json.loads(COMMITTED.read_text(encoding="utf-8")), (
        "sdk/openapi.json is stale: run `make openapi` and commit it"
    )


def test_every_operation_has_a_stable_readable_id(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not re.fullmatch(r"[a-z][a-zA-Z0-9]*", i)] == []


def test_every_error_is_the_one_error_body(document: dict[str, Any]) -> None:
    wrong = [
        (method, path, status)
        for method, path, operation in operations(document)
        for status, response in operation["responses"].items()
        if int(status) >= 400
        and response.get("content")
        != {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    ]
    assert wrong == []
    extra = document["components"]["schemas"]["ErrorBody"]["properties"]["extra"]
    assert extra["oneOf"][0] == {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}}


def test_every_json_body_is_a_named_component(document: dict[str, Any]) -> None:
    inline = []
    for method, path, operation in operations(document):
        bodies = [("request", operation.get("requestBody", {}).get("content", {}))]
        bodies += [
            (status, response.get("content") or {}) for status, response in operation["responses"].items()
        ]
        for where, content in bodies:
            for media_type, media in content.items():
                schema = media.get("schema", {})
                if media_type in ("application/json", "multipart/form-data") and not named(schema):
                    inline.append((method, path, where, media_type))
    assert inline == []


def test_streams_are_documented_as_the_bytes_they_are(document: dict[str, Any]) -> None:
    stream = document["paths"]["/api/v1/videos/{video_id}/stream"]["get"]["responses"]
    for status in ("200", "206"):
        assert stream[status]["content"] == {"video/*": {"schema": {"type": "string", "format": "binary"}}}


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_validation_error_is_answered_as_documented(
    client: AppClient, document: dict[str, Any]
) -> None:
    ann = await register(client, "Ann")
    answer = await client.post("/api/v1/groups", json={"name": 5}, headers=ann.headers)
    assert answer.status_code == 400
    body = answer.json()
    schema = document["components"]["schemas"]
    assert set(body) <= set(schema["ErrorBody"]["properties"])
    assert set(schema["ErrorBody"]["required"]) <= set(body)
    assert (body["status_code"], body["code"]) == (400, "bad_request")
    field_error = schema["FieldError"]
    for error in body["extra"]:
        assert set(error) <= set(field_error["properties"])
        assert set(field_error["required"]) <= set(error)
