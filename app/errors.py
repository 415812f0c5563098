"""Domain errors. Services raise these; `app.server.errors` turns every one into the JSON error shape."""

from __future__ import annotations

from typing import Any, ClassVar

from pymongo.errors import ConnectionFailure as MongoConnectionFailure
from pymongo.errors import ExecutionTimeout as MongoExecutionTimeout
from pymongo.errors import WTimeoutError as MongoWriteTimeout
from redis.exceptions import ClusterDownError as RedisClusterDown
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError as RedisOutOfMemory
from redis.exceptions import ReadOnlyError as RedisReadOnly
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import TryAgainError as RedisTryAgain
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


class Saturated(Exception):
    """A backing service is up but could not take the write in time (e.g. too many senders raced
    for a group's next seq): worth a retry, like an outage."""


# A backing service is down, unreachable or saturated: HTTP answers 503 with Retry-After, a WebSocket
# closes with 1013 (or answers a send with an `unavailable` error frame); the client retries.
# PostgreSQL: app/db/engine.py raises "too many connections", "starting up" and the like as an
# OperationalError. Redis: ConnectionError covers LOADING (a restart reading its data); OOM (at
# maxmemory with noeviction), READONLY (a primary demoted in a failover), CLUSTERDOWN/MASTERDOWN and
# TRYAGAIN (a cluster resharding or failing over) refuse writes for now, not for good.
# MongoDB: ConnectionFailure covers AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError,
# NotPrimaryError and a full connection pool (WaitQueueTimeoutError); ExecutionTimeout is a query past
# its maxTimeMS budget, WTimeoutError a write concern not met in time.
DEPENDENCY_DOWN: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    TimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
    RedisOutOfMemory,
    RedisReadOnly,
    RedisClusterDown,
    RedisTryAgain,
    MongoConnectionFailure,
    MongoExecutionTimeout,
    MongoWriteTimeout,
    Saturated,
)


class AppError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self, detail: str, *, extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers = headers or {}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, detail: str = "Could not validate credentials", **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Blocked(Conflict):
    """The caller blocked the person they name (a direct chat): unblock first."""

    code = "blocked"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class UnsupportedSubtitles(UnsupportedMediaType):
    """A subtitle upload that is neither WebVTT nor SRT (judged by content)."""

    code = "unsupported_subtitle_format"


class RangeNotSatisfiable(AppError):
    status_code = 416
    code = "range_not_satisfiable"


class Unprocessable(AppError):
    status_code = 422
    code = "unprocessable"


class InvalidSubtitles(Unprocessable):
    """A WebVTT or SRT file that cannot be taken as it is: not UTF-8, no valid cue, past a limit."""

    code = "invalid_subtitles"


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after: int, detail: str = "Too many requests; try again later") -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"


class QuotaExceeded(AppError):
    """A user's storage quota would be exceeded (`extra`: used, quota, size)."""

    status_code = 409
    code = "quota_exceeded"


class ClientGone(AppError):
    """The client disconnected before its request body arrived: nobody reads the answer, and it is
    not the server's fault (nginx's 499, so logs and metrics do not count it as a 500)."""

    status_code = 499
    code = "client_closed_request"

    def __init__(self) -> None:
        super().__init__("The client disconnected before sending its whole request")
