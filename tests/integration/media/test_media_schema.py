"""The video routes in the OpenAPI schema: seed paths, security, and the bodies the upload routes read
themselves (multipart, raw chunks), so generated SDKs can call them."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.conftest import AppClient

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("stack", [("sqlite", "local")])
async def test_video_routes_are_documented(client: AppClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    for path in ("/api/videos", "/api/stream/{video_name}", "/api/upload"):
        assert path in paths, path
    forms = schema["components"]["schemas"]

    def form_of(path: str) -> dict[str, Any]:
        """The multipart form a route reads, a named component (SDKs name it)."""
        ref = paths[path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
        form: dict[str, Any] = forms[ref.rsplit("/", 1)[-1]]
        return form

    assert form_of("/api/v1/groups/{group_id}/videos")["properties"]["file"] == {
        "type": "string",
        "format": "binary",
        "description": "The video (MP4, MOV, WebM, MKV, OGG, AVI)",
    }
    assert "group_id" in form_of("/api/upload")["properties"]
    chunk = paths["/api/v1/uploads/{upload_id}/chunks/{index}"]["put"]
    assert "application/octet-stream" in chunk["requestBody"]["content"]
    stream = paths["/api/v1/videos/{video_id}/stream"]
    assert (stream["get"]["operationId"], stream["head"]["operationId"]) == ("streamVideo", "headStreamVideo")
    assert stream["get"]["security"] == [{"BearerToken": []}, {}]  # or the signed URL
    assert {"uid", "exp", "sig"} <= {p["name"] for p in stream["get"]["parameters"]}
    for path, item in paths.items():
        if "video" in path or "upload" in path:
            for method, operation in item.items():
                assert operation.get("security"), (method, path)
                assert "4XX" not in operation["responses"]


@pytest.mark.parametrize("stack", [("sqlite", "local")])
async def test_the_azure_sdk_logs_only_warnings(client: AppClient) -> None:
    # It logs every HTTP request at INFO otherwise.
    assert logging.getLogger("azure").getEffectiveLevel() == logging.WARNING
    assert (
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").getEffectiveLevel()
        == logging.WARNING
    )
