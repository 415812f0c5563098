"""The OpenAPI document says what `app.web.bodies` enforces: no NUL in request text (passwords
aside), so generated clients and schemathesis know such a request is refused rather than valid."""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import OpenAPI, OpenAPIType, Parameter, Reference, RequestBody, Schema

from app.domain.patterns import NO_NUL
from app.web.bodies import NUL_ALLOWED

_NOT_TEXT = frozenset({"binary", "byte", "date-time", "date", "uuid"})


def forbid_nul(document: OpenAPI) -> None:
    components = document.components.schemas if document.components and document.components.schemas else {}
    seen: set[str] = set()
    for item in (document.paths or {}).values():
        for operation in (item.get, item.post, item.put, item.patch, item.delete, item.head):
            if operation is None:
                continue
            for parameter in operation.parameters or []:
                if isinstance(parameter, Parameter):
                    _walk(parameter.schema, components, seen)
            if isinstance(operation.request_body, RequestBody):
                for media in (operation.request_body.content or {}).values():
                    _walk(media.schema, components, seen)


def _walk(schema: Any, components: dict[str, Any], seen: set[str]) -> None:
    if isinstance(schema, Reference):
        name = schema.ref.rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            _walk(components.get(name), components, seen)
        return
    if not isinstance(schema, Schema):
        return
    kinds = schema.type if isinstance(schema.type, list | tuple) else [schema.type]
    if OpenAPIType.STRING in kinds and schema.pattern is None and schema.format not in _NOT_TEXT:
        schema.pattern = NO_NUL
    for name, prop in (schema.properties or {}).items():
        if name not in NUL_ALLOWED:
            _walk(prop, components, seen)
    for sub in [*(schema.one_of or []), *(schema.any_of or []), *(schema.all_of or [])]:
        _walk(sub, components, seen)
    _walk(schema.items, components, seen)
