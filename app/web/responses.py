"""The error entries every route declares in the OpenAPI document, and the one error body they describe.

Below the domain, so controllers in any layer declare their errors without importing the server
(app/server/errors.py maps exceptions to these bodies).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import MediaType, Response
from litestar.openapi.datastructures import ResponseSpec

# The security requirement of every route that takes a bearer token.
BEARER: list[dict[str, list[str]]] = [{"BearerToken": []}]

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
    507: "insufficient_storage",
}


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """The body of every error response."""

    status_code: int
    code: str
    detail: str
    extra: Any = None


def error_response(
    status_code: int,
    detail: str,
    code: str | None = None,
    extra: Any = None,
    headers: dict[str, str] | None = None,
) -> Response[ErrorBody]:
    body = ErrorBody(status_code, code or STATUS_CODES.get(status_code, "error"), detail, extra)
    return Response(body, status_code=status_code, headers=headers, media_type=MediaType.JSON)


def describe_status(status_code: int) -> str:
    """An error status in words for the OpenAPI document: "not found", "rate limited", ..."""
    return STATUS_CODES.get(status_code, "error").replace("_", " ")


def error_responses(*status_codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI response entries for the error statuses a route can return."""
    return {
        code: ResponseSpec(
            data_container=ErrorBody, description=describe_status(code), generate_examples=False
        )
        for code in status_codes
    }
