"""The OpenAPI document: its configuration, and what the generated schema cannot say by itself.

Every error response of every operation is Huddle's one error body (`ErrorBody`: Litestar documents
its own validation shape for 400s, which the server never sends); binary answers are binary in the
media type they are served as; bounds Litestar drops are put back; no request text may hold NUL
(`openapi_text`). Generated SDKs are built from this document (`make sdk`), so it must say exactly
what the server does: tests/integration/test_openapi_document.py and schemathesis check it.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.serialization import encode_json
from litestar.types import Method

from app import __version__
from app.domain.ids import MAX_ID
from app.domain.media.uploads.openapi import FORMS as UPLOAD_FORMS
from app.server.openapi_text import forbid_nul
from app.web.responses import describe_status

ZERO_BOUNDED = frozenset({"before_seq", "after_seq", "last_seq"})
_ERROR_FIELDS = {
    "status_code": "The HTTP status, repeated",
    "code": "Stable and machine-readable: not_found, rate_limited, ...",
    "detail": "For people; FastAPI (seed) clients read this",
}
ERROR_BODY = Reference(ref="#/components/schemas/ErrorBody")
_JSON = "application/json"


def operation_id(handler: HTTPRouteHandler, method: Method, components: list[Any]) -> str:
    """The handler's name for the canonical path; seed-000 aliases get a suffix so ids stay unique.

    A handler serving GET and HEAD (streams) names its HEAD operation `head<Name>`.
    """
    words = handler.handler_name.split("_")
    if len(handler.http_methods) > 1 and method != "GET":
        words.insert(0, method.lower())
    name = words[0] + "".join(word.title() for word in words[1:])
    parts = [part for part in components if isinstance(part, str)]
    if len(handler.paths) == 1 or parts[:2] == ["api", "v1"]:
        return name
    return name + "Seed" + "".join(part.replace("-", " ").title().replace(" ", "") for part in parts)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Huddle",
        version=__version__,
        description="Group chat with synchronized video watching. Seed-000 paths are kept as aliases.",
        path="/schema",
        operation_id_creator=operation_id,
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
    )


def document_json(document: OpenAPI) -> str:
    """The document as committed in sdk/openapi.json: indented, paths sorted (a handler's several
    paths come in no fixed order), everything else in the server's order."""
    data = msgspec.json.decode(encode_json(document.to_schema()))
    data["paths"] = dict(sorted(data["paths"].items()))
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def operations(document: OpenAPI) -> list[Operation]:
    return [
        operation
        for item in (document.paths or {}).values()
        for operation in (item.get, item.post, item.put, item.patch, item.delete, item.head)
        if operation is not None
    ]


def refine(document: OpenAPI) -> None:
    components = document.components.schemas if document.components and document.components.schemas else {}
    for operation in operations(document):
        _bound_cursors(operation)
        for status, response in (operation.responses or {}).items():
            if isinstance(response, OpenAPIResponse):
                _one_error_body(int(status), response)
                _binary(response)
    components.update(UPLOAD_FORMS)
    _error_schemas(components)
    _user_ref(components)
    _send_message(components)
    forbid_nul(document)


def _bound_cursors(operation: Operation) -> None:
    """The zero lower bound of optional cursors, which Litestar drops (`ge=0` is falsy)."""
    for parameter in operation.parameters or []:
        if not isinstance(parameter, Parameter) or parameter.name not in ZERO_BOUNDED:
            continue
        if isinstance(parameter.schema, Schema) and parameter.schema.minimum is None:
            parameter.schema.minimum = 0


def _one_error_body(status: int, response: OpenAPIResponse) -> None:
    """Every 4xx/5xx answer is an ErrorBody, including the 400 Litestar documents for validation; a
    redirect has no body (Litestar documents an empty JSON one for a handler returning a Response)."""
    if 300 <= status < 400:
        response.content = None
        return
    if status < 400:
        return
    response.content = {_JSON: OpenAPIMediaType(schema=ERROR_BODY)}
    response.description = describe_status(status)


def _binary(response: OpenAPIResponse) -> None:
    """Bytes served as what they are (video/*, image/*, ...) are binary strings, not JSON text; an
    event stream is text."""
    for media_type, media in (response.content or {}).items():
        if media_type == "text/event-stream":
            media.schema = Schema(
                type=OpenAPIType.STRING, description="Server-Sent Events (docs/protocol.md)"
            )
            continue
        schema = media.schema
        if media_type != _JSON and isinstance(schema, Schema) and schema.type == OpenAPIType.STRING:
            schema.format = OpenAPIFormat.BINARY
            schema.examples = None


def _error_schemas(schemas: dict[str, Any]) -> None:
    """ErrorBody's `extra`: field errors for a 400 from validation, else an object of details."""
    schemas["FieldError"] = Schema(
        type=OpenAPIType.OBJECT,
        title="FieldError",
        description="One invalid field of a request",
        required=["message"],
        properties={
            "key": Schema(type=OpenAPIType.STRING, description="The field, e.g. `email` or `items[2].text`"),
            "message": Schema(type=OpenAPIType.STRING, description="What is wrong, in words for people"),
            "source": Schema(type=OpenAPIType.STRING, description="body, query, path, header or cookie"),
            "reason": Schema(type=OpenAPIType.STRING, description="The validator's own wording"),
        },
    )
    body = schemas.get("ErrorBody")
    if not isinstance(body, Schema) or not body.properties:
        return
    body.examples = [{"status_code": 404, "code": "not_found", "detail": "Group not found"}]
    for name, description in _ERROR_FIELDS.items():
        field = body.properties.get(name)
        if isinstance(field, Schema):
            field.examples, field.description = None, description
    body.properties["extra"] = Schema(
        description="Field errors (400) or details of the refusal (e.g. a quota's `used` and `quota`)",
        one_of=[
            Schema(type=OpenAPIType.ARRAY, items=Reference(ref="#/components/schemas/FieldError")),
            Schema(type=OpenAPIType.OBJECT, additional_properties=True),
        ],
    )


def _user_ref(schemas: dict[str, Any]) -> None:
    """A UserRef names someone by exactly one of `email` or `user_id`."""
    user_ref = schemas.get("UserRef")
    if isinstance(user_ref, Schema):
        user_ref.min_properties = user_ref.max_properties = 1


def _send_message(schemas: dict[str, Any]) -> None:
    """The id bounds of `attachment_ids` items, which Litestar drops from list items; and a message
    needs text, attachments or both."""
    send = schemas.get("SendMessage")
    ids = send.properties.get("attachment_ids") if isinstance(send, Schema) and send.properties else None
    if isinstance(send, Schema) and isinstance(ids, Schema) and isinstance(ids.items, Schema):
        ids.items.minimum, ids.items.maximum = 1, MAX_ID
        # As "not (no text and no attachment)", not as anyOf: generators build a union of anyOf's
        # branches, and the branches would lose every other field (client_msg_id, reply_to, ...).
        no_text = Schema(type=OpenAPIType.NULL)  # absent properties pass too
        send.schema_not = Schema(properties={"text": no_text, "attachment_ids": Schema(max_items=0)})
