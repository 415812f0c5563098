"""A tiny ASGI app for the real-server streaming test: blobs under HUDDLE_TEST_BLOB_ROOT via ranged_response.

`GET /extensions` tells which ASGI extensions the server advertised, so the test knows that a whole
file went out through `http.response.pathsend`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, get, route
from litestar.params import FromPath

from app.blobstore import LocalBlobStore
from app.errors import NotFound
from app.server.errors import exception_handlers
from app.streaming.response import ranged_response

store = LocalBlobStore(Path(os.environ.get("HUDDLE_TEST_BLOB_ROOT", "var/test-blobs")), fsync=False)


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/extensions")
async def extensions(request: Request[Any, Any, Any]) -> list[str]:
    return sorted(request.scope.get("extensions") or {})


@route("/blobs/{key:path}", http_method=["GET", "HEAD"])
async def serve_blob(request: Request[Any, Any, Any], key: FromPath[str]) -> Response[bytes]:
    key = key.lstrip("/")
    info = await store.stat(key)
    if info is None:
        raise NotFound("No such blob")
    return ranged_response(request, store, key, info)


app = Litestar([health, extensions, serve_blob], exception_handlers=exception_handlers)
