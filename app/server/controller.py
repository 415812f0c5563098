"""A Litestar Controller that documents its error responses once, for every route it has.

Litestar's Controller carries path, tags and security for its routes, but not `responses`: this
base class merges its class-level `responses` into each route handler's own (a route's entry for the
same status wins), so the OpenAPI document lists the errors a controller's routes can return.
"""

from __future__ import annotations

from typing import Any, ClassVar

from litestar import Controller
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec


class DocumentedController(Controller):
    responses: ClassVar[dict[int, ResponseSpec]] = {}

    def get_route_handlers(self) -> list[Any]:
        handlers = super().get_route_handlers()
        for handler in handlers:
            if isinstance(handler, HTTPRouteHandler):
                handler.responses = {**self.responses, **(handler.responses or {})}
        return handlers
