"""Range streaming of a seeded video through the app's own `ranged_response` over `LocalBlobStore`.

Stands in for the video endpoints (`GET /api/stream/{video_name}`) until they land on main: the same
response code (RFC 9110 ranges, ETag, bounded chunks from the local-disk blob store), without the
catalog lookup and authorization in front of it. Serve it with Granian:

    RANGE_DIR=var/bench/videos granian --interface asgi --workers 2 --port 8104 loadtests.range_app:app
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, get, route
from litestar.params import FromPath

from app.domain.media.blobstore import LocalBlobStore
from app.errors import NotFound
from app.server.errors import exception_handlers
from app.streaming.response import ranged_response

store = LocalBlobStore(Path(os.environ.get("RANGE_DIR", "var/bench/videos")), fsync=False)


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@route("/api/stream/{video_name:str}", http_method=["GET", "HEAD"])
async def stream(request: Request[Any, Any, Any], video_name: FromPath[str]) -> Response[bytes]:
    info = await store.stat(video_name)
    if info is None:
        raise NotFound("Video not found")
    return ranged_response(request, store, video_name, info)


app = Litestar([health, stream], exception_handlers=exception_handlers)
