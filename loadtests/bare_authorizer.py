"""The floor for offloaded streaming on Granian: a plain ASGI app that answers every request with the
same `X-Accel-Redirect` and checks nothing. `make bench` serves it like Huddle (`granian --interface
asgi --workers 2`) behind the same balancer (deploy/nginx/huddle.conf), which then sends the file, so
what any Granian app that authorizes each request costs shows as this row's distance to nginx alone,
and Huddle's own checks as its distance to this row.

Environment: BARE_ACCEL, the internal path to hand nginx (what Huddle answers for the bench's video).
"""

from __future__ import annotations

import os
from typing import Any

ACCEL = os.environ.get("BARE_ACCEL", "/_protected/missing").encode()
HEADERS = [(b"content-type", b"video/mp4"), (b"x-accel-redirect", ACCEL), (b"content-length", b"0")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b""})
