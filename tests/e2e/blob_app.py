"""A tiny ASGI app for the real-server streaming tests: blobs under HUDDLE_TEST_BLOB_ROOT via
`stored_response` (`?name=` sets the download name).

`GET /extensions` tells which ASGI extensions the server advertised, so the test knows that a whole
file went out through `http.response.pathsend`. With HUDDLE_TEST_OFFLOAD_PREFIX set, it hands the
bytes to nginx (STREAM_OFFLOAD=nginx) behind deploy/nginx/huddle.conf.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, get, route
from litestar.params import FromPath

from app.blobstore import LocalBlobStore
from app.server.errors import exception_handlers
from app.streaming.offload import NginxOffload
from app.streaming.response import stored_response

store = LocalBlobStore(Path(os.environ.get("HUDDLE_TEST_BLOB_ROOT", "var/test-blobs")), fsync=False)
prefix = os.environ.get("HUDDLE_TEST_OFFLOAD_PREFIX")
offload = NginxOffload(prefix) if prefix else None


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/extensions")
async def extensions(request: Request[Any, Any, Any]) -> list[str]:
    return sorted(request.scope.get("extensions") or {})


@route("/blobs/{key:path}", http_method=["GET", "HEAD"])
async def serve_blob(request: Request[Any, Any, Any], key: FromPath[str]) -> Response[bytes]:
    return await stored_response(
        request,
        store,
        key.lstrip("/"),
        missing="No such blob",
        filename=request.query_params.get("name"),
        offload=offload,
    )


app = Litestar([health, extensions, serve_blob], exception_handlers=exception_handlers)
