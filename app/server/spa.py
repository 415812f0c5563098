"""The browser SPA: `/` and the client-side routes serve `index.html`, `/static/` serves its files.

The shell tells the app the server's settings it needs before signing in, as `<meta>` tags (no
inline script: the policy below forbids it): `huddle-transport` is `REALTIME_TRANSPORT`, the
real-time transport the app uses unless a tab asks for the other (`?transport=`).

Every response here carries a strict Content-Security-Policy (no inline script or style, same-origin
only), so an injected `<script>` or `style=` attribute cannot run even if a rendering bug let one in.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from litestar import MediaType, Request, Response, Router, route
from litestar.datastructures import CacheControlHeader
from litestar.enums import HttpMethod
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from app.server.security import CSP, page_csp
from app.streaming.offload import redirect_origins

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
INDEX = STATIC_DIR / "index.html"
TRANSPORT_META = '<meta name="huddle-transport" content="ws">'  # as shipped: the default

# The app-wide policy (app/server/security.py) is strict enough for the SPA: same origin only, no
# inline script or style. Set here as well, so the SPA's pages keep it whatever the global hook does.
CONTENT_SECURITY_POLICY = CSP
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# No build step means no content hashes in file names: revalidate every time (ETag, Last-Modified).
REVALIDATE = CacheControlHeader(no_cache=True)


async def secure(response: Response[object]) -> Response[object]:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@route(
    ["/", "/signin", "/signup", "/settings", "/mentions", "/g/{group_id:int}"],
    http_method=[HttpMethod.GET, HttpMethod.HEAD],
    include_in_schema=False,
    after_request=secure,
    cache_control=REVALIDATE,
    sync_to_thread=False,
)
def index(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The SPA shell; client-side routes (`/g/12`) load it too, so a reload or a shared link works."""
    settings = request.app.state.runtime.settings
    transport = settings.realtime_transport
    policy = {"Content-Security-Policy": page_csp(redirect_origins(settings))}
    shell = INDEX.read_bytes().replace(
        TRANSPORT_META.encode(), TRANSPORT_META.replace('"ws"', f'"{transport}"').encode()
    )
    etag = f'"{hashlib.sha256(shell).hexdigest()[:32]}"'
    if etag in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers={"ETag": etag, **policy})
    return Response(shell, media_type=MediaType.HTML, headers={"ETag": etag, **policy})


static_files: Router = create_static_files_router(
    path="/static",
    directories=[STATIC_DIR],
    name="spa_static",
    after_request=secure,
    cache_control=REVALIDATE,
    include_in_schema=False,
)

route_handlers: list[ControllerRouterHandler] = [index, static_files]
