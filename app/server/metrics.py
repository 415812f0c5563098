"""`GET /metrics`: Prometheus exposition, summed over every worker of this server.

With `METRICS_TOKEN` set, scrapers send it as a bearer token (from anywhere). Without it, only the
machine itself may read it (a loopback client and no forwarding header, so a reverse proxy on the
same host does not open it to the world).
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

import anyio
from litestar import Request, Response, get

from app.domain.accounts.deps import bearer_token, client_address
from app.domain.params import RuntimeDep
from app.errors import Forbidden
from app.observability import metrics as registry

_FORWARDING = ("x-forwarded-for", "forwarded", "x-real-ip")


def _loopback(request: Request[Any, Any, Any]) -> bool:
    try:
        local = ipaddress.ip_address(client_address(request)).is_loopback
    except ValueError:
        return False
    return local and not any(name in request.headers for name in _FORWARDING)


@get("/metrics", include_in_schema=False, cache=False)
async def metrics(request: Request[Any, Any, Any], runtime: RuntimeDep) -> Response[bytes]:
    expected = runtime.settings.metrics_token
    if expected is not None:
        presented = bearer_token(request.headers.get("authorization"))  # 401 when absent
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise Forbidden("Invalid metrics token")
    elif not _loopback(request):
        raise Forbidden("Metrics are served to loopback clients only; set METRICS_TOKEN to scrape remotely")
    body = await anyio.to_thread.run_sync(registry.render)
    return Response(body, media_type=registry.CONTENT_TYPE)


route_handlers = [metrics]
