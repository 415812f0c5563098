"""`GET /metrics`: Prometheus exposition, summed over every worker of this server.

With `METRICS_TOKEN` set, scrapers send it as a bearer token (from anywhere). Without it, only the
machine itself may read it (a loopback client and no forwarding header, so a reverse proxy on the
same host does not open it to the world).
"""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Request, Response, get

from app.domain.accounts.deps import require_operator
from app.domain.params import RuntimeDep
from app.observability import metrics as registry


@get("/metrics", include_in_schema=False, cache=False)
async def metrics(request: Request[Any, Any, Any], runtime: RuntimeDep) -> Response[bytes]:
    require_operator(request, runtime.settings.metrics_token)
    body = await anyio.to_thread.run_sync(registry.render)
    return Response(body, media_type=registry.CONTENT_TYPE)


route_handlers = [metrics]
