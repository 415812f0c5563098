"""Declared routes: an area's handlers under one Router that carries their tags, security and the
error responses they all return, written once instead of on every route."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from litestar import Router
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import SecurityRequirement
from litestar.types import ControllerRouterHandler

from app.web.responses import error_responses


def area(
    *handlers: ControllerRouterHandler,
    tags: Sequence[str],
    security: Sequence[SecurityRequirement] | None = None,
    errors: Sequence[int] = (),
    dependencies: Mapping[str, Any] | None = None,
    path: str = "/",
) -> Router:
    """One area's routes (`path` is their common prefix; "/" where an area keeps seed-000 aliases).

    `errors` are the error statuses every route of the area can return: each route's own
    `responses` add to them, in status order, so the OpenAPI document lists the same entries."""
    shared = error_responses(*errors)
    for handler in handlers:
        if shared and isinstance(handler, HTTPRouteHandler):
            merged = {**shared, **(handler.responses or {})}
            handler.responses = dict(sorted(merged.items()))
    return Router(
        path=path,
        route_handlers=list(handlers),
        tags=list(tags),
        security=security,
        dependencies=dict(dependencies) if dependencies else None,
    )
