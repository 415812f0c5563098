"""The players' lane: a signed range request of a video answered before Litestar's router.

A playing video costs one request per range, each authorized by its signed URL. The check itself is
cheap (a signature and, nearly always, a grant the worker remembers); routing, parsing the handler's
signature, resolving its dependencies and building the service cost several times more
(docs/benchmarks.md). This layer answers exactly the requests a player makes, a GET of
`/api/v1/videos/{id}/stream` whose query is a signed link and at most a `quality`, by asking the
same `SignedStreams.respond` the route asks first, and hands everything else to the route unchanged:
no link, anything else in the query, an `Origin` (CORS), a user who may not watch (the route says why),
a link that does not verify, or any error. So it only ever answers with the bytes (or the offload that
sends them) the route would have answered with; every refusal and error is the route's.

It sits inside the access log, the metrics and the security headers (app/server/app.py), and names
the route in the log as the router would.
"""

from __future__ import annotations

import logging
import re
from typing import Any, get_args
from urllib.parse import parse_qsl

from litestar import Request
from litestar.response.base import ASGIResponse
from litestar.types import ASGIApp, Receive, Send

from app.domain.ids import MAX_ID
from app.domain.media.catalog.streams import SignedStreams
from app.domain.media.schemas import QualityName
from app.domain.shared.signing import ORIGINAL, Link
from app.observability import metrics

log = logging.getLogger("huddle.streaming")
ROUTE = "/api/v1/videos/{video_id:int}/stream"  # the stream route's template, as the router names it
_PATH = re.compile(r"/api/v1/videos/([1-9][0-9]{0,18})/stream")
_LINK = frozenset({"uid", "exp", "sig"})
_QUALITIES = frozenset(get_args(QualityName))


def with_player_lane(app: ASGIApp, streams: SignedStreams) -> ASGIApp:
    async def lane(scope: Any, receive: Receive, send: Send) -> None:  # Any: a raw ASGI scope
        if scope["type"] == "http" and scope["method"] == "GET":
            matched = _PATH.fullmatch(scope["path"])
            query = None if matched is None else _signed_query(scope["query_string"])
            if matched is not None and query is not None:
                response = await _answer(Request(scope, receive), streams, int(matched[1]), query)
                if response is not None:
                    scope["path_template"] = ROUTE
                    metrics.player_lane_answered()
                    await response(scope, receive, send)
                    return
        await app(scope, receive, send)

    return lane


async def _answer(
    request: Request[Any, Any, Any], streams: SignedStreams, video_id: int, query: dict[str, str]
) -> ASGIResponse | None:
    """The route's answer when this signed request is a player's range it may have, else None."""
    if video_id > MAX_ID or "origin" in request.headers:
        return None
    link = Link(query["uid"], query["exp"], query["sig"])
    try:
        response = await streams.respond(request, video_id, link, query.get("quality", ORIGINAL))
    except Exception:  # a refusal or a failure: the route answers it, with its own handlers
        log.debug("player lane: the route answers video %s", video_id, exc_info=True)
        return None
    return None if response is None else response.to_asgi_response(None, request)


def _signed_query(raw: bytes) -> dict[str, str] | None:
    """`uid`, `exp`, `sig` once each and at most a known `quality`; None for any other query."""
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    query = dict(pairs)
    names = query.keys()
    if len(query) != len(pairs) or not names >= _LINK or not names <= _LINK | {"quality"}:
        return None
    if query.get("quality", ORIGINAL) not in _QUALITIES:
        return None
    return query
