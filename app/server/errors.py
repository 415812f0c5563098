"""One JSON error shape for every error, mapped in one place.

`{"status_code": 404, "code": "not_found", "detail": "Group not found"}` plus `extra` for field errors.
`detail` keeps seed-000 (FastAPI) clients working; `code` is stable for SDKs.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

from advanced_alchemy.exceptions import DuplicateKeyError, IntegrityError, NotFoundError, RepositoryError
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from app.blobstore import BlobNotFound, MissingBlocks
from app.errors import DEPENDENCY_DOWN, AppError
from app.server.field_errors import humanize
from app.web.responses import ErrorBody, error_response

log = logging.getLogger("huddle.errors")

MISSING_SHOWN = 1000  # missing block indexes listed in a 409; a client fetches the session for the rest
# Errnos of a peer that cannot be reached: a backing service outage, worth a retry.
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
        errno.EADDRNOTAVAIL,
    }
)
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def _app_error(_: Request[Any, Any, Any], exc: AppError) -> Response[ErrorBody]:
    return error_response(exc.status_code, exc.detail, exc.code, exc.extra, exc.headers)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    extra = humanize(exc.extra) if isinstance(exc, ValidationException) else None
    detail = exc.detail
    if isinstance(exc, ValidationException) and not detail:
        detail = "Invalid request"
    return error_response(exc.status_code, detail, extra=extra or None, headers=exc.headers)


def _repository_error(_: Request[Any, Any, Any], exc: RepositoryError) -> Response[ErrorBody]:
    if isinstance(exc, NotFoundError):
        return error_response(404, "Not found")
    if isinstance(exc, DuplicateKeyError | IntegrityError):
        return error_response(409, "Conflicts with existing data")
    log.error("repository error", exc_info=exc)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error")


def _dependency_down(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    # A database or Redis outage is the server's problem, reported fast as 503 so clients retry.
    log.warning("dependency unavailable on %s: %s", request.scope.get("path"), type(exc).__name__)
    return error_response(
        503, "A backing service is unavailable; retry shortly", headers={"Retry-After": "2"}
    )


def _os_error(request: Request[Any, Any, Any], exc: OSError) -> Response[ErrorBody]:
    """Only network errors mean a backing service is down. Local disk errors (the media folder) are not
    cured by a retry in 2 s: a full disk is a 507, anything else (permissions, a missing folder, I/O
    errors) is a server fault that an operator must see in the log."""
    if isinstance(exc, ConnectionError | socket.gaierror) or exc.errno in _NETWORK_ERRNOS:
        return _dependency_down(request, exc)
    if exc.errno in _FULL_ERRNOS:
        log.error("storage full on %s: %s", request.scope.get("path"), exc)
        return error_response(507, "The server has no room to store this; try again later")
    return _unexpected(request, exc)


def _blob_not_found(_: Request[Any, Any, Any], __: BlobNotFound) -> Response[ErrorBody]:
    return error_response(404, "The file is not in storage")


def _missing_blocks(_: Request[Any, Any, Any], exc: MissingBlocks) -> Response[ErrorBody]:
    return error_response(
        409,
        f"The upload is incomplete: {len(exc.missing)} chunk(s) missing",
        extra={"missing": exc.missing[:MISSING_SHOWN]},
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.error("unhandled error on %s", request.scope.get("path"), exc_info=exc)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error")


exception_handlers: ExceptionHandlersMap = {
    AppError: _app_error,
    HTTPException: _http_error,
    RepositoryError: _repository_error,
    SQLIntegrityError: lambda _, __: error_response(409, "Conflicts with existing data"),
    BlobNotFound: _blob_not_found,
    MissingBlocks: _missing_blocks,
    OSError: _os_error,
    **dict.fromkeys(DEPENDENCY_DOWN, _dependency_down),
    Exception: _unexpected,
}


def _azure_http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    # Azure's own 5xx (ServerBusy, InternalError) is an outage; a 4xx it did not expect is our fault.
    status = getattr(exc, "status_code", None)
    if status is None or status >= HTTP_500_INTERNAL_SERVER_ERROR:
        return _dependency_down(request, exc)
    return _unexpected(request, exc)


def azure_exception_handlers() -> ExceptionHandlersMap:
    """Azure SDK errors, for apps that store blobs in Azure: imported only then (the SDK is heavy)."""
    from azure.core.exceptions import (  # noqa: PLC0415
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    return {
        ServiceRequestError: _dependency_down,
        ServiceResponseError: _dependency_down,
        HttpResponseError: _azure_http_error,
    }
