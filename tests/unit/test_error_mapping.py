"""OS errors: only network failures read as a backing-service outage; local disk errors do not.
MongoDB's and Redis's "unreachable or busy" errors are outages too; their other errors (a bug of
ours, a misconfiguration) are 500s."""

from __future__ import annotations

import errno
import socket

import httpx
import pytest
from litestar import Litestar, get
from litestar.params import FromPath
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    WTimeoutError,
)
from redis.exceptions import (
    ClusterDownError,
    MasterDownError,
    NoPermissionError,
    ResponseError,
    TryAgainError,
)

from app.blobstore import BlobNotFound, MissingBlocks
from app.errors import Saturated
from app.server.errors import exception_handlers

pytestmark = pytest.mark.anyio

ERRORS: dict[str, BaseException] = {
    "refused": ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    "unreachable": OSError(errno.EHOSTUNREACH, "No route to host"),
    "dns": socket.gaierror(-2, "Name or service not known"),
    "timeout": TimeoutError(),
    "disk-full": OSError(errno.ENOSPC, "No space left on device", "/var/media/.tmp/put-1"),
    "quota": OSError(errno.EDQUOT, "Disk quota exceeded"),
    "permissions": PermissionError(errno.EACCES, "Permission denied", "/var/media/videos"),
    "missing-folder": FileNotFoundError(errno.ENOENT, "No such file or directory", "/var/media"),
    "io": OSError(errno.EIO, "Input/output error"),
    "blob-missing": BlobNotFound("videos/x"),
    "blocks-missing": MissingBlocks("videos/x", list(range(1500))),
    "mongo-selection": ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused"),
    "mongo-network-timeout": NetworkTimeout("127.0.0.1:27017: timed out"),
    "mongo-reconnect": AutoReconnect("connection closed"),
    "mongo-not-primary": NotPrimaryError("not primary"),
    "mongo-pool-full": WaitQueueTimeoutError("timed out waiting for a connection"),
    "mongo-max-time": ExecutionTimeout("operation exceeded time limit", 50),
    "mongo-write-concern": WTimeoutError("waiting for replication timed out", 64),
    "mongo-seq-races": Saturated("no free seq in group 1 after 50 attempts"),
    "mongo-bad-query": OperationFailure("unknown operator: $bogus", 2),
    "redis-cluster-down": ClusterDownError("The cluster is down"),
    "redis-master-down": MasterDownError(
        "Link with MASTER is down and replica-serve-stale-data is set to 'no'."
    ),
    "redis-try-again": TryAgainError("Multiple keys request during rehashing of slot"),
    "redis-no-permission": NoPermissionError("this user has no permissions to run the 'eval' command"),
    "redis-wrong-type": ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
}


@get("/fail/{name:str}")
async def fail(name: FromPath[str]) -> None:
    raise ERRORS[name]


@pytest.mark.parametrize(
    ("name", "status", "retry"),
    [
        ("refused", 503, True),
        ("unreachable", 503, True),
        ("dns", 503, True),
        ("timeout", 503, True),
        ("disk-full", 507, False),
        ("quota", 507, False),
        ("permissions", 500, False),
        ("missing-folder", 500, False),
        ("io", 500, False),
        ("blob-missing", 404, False),
        ("blocks-missing", 409, False),
        ("mongo-selection", 503, True),
        ("mongo-network-timeout", 503, True),
        ("mongo-reconnect", 503, True),
        ("mongo-not-primary", 503, True),
        ("mongo-pool-full", 503, True),
        ("mongo-max-time", 503, True),
        ("mongo-write-concern", 503, True),
        ("mongo-seq-races", 503, True),
        ("mongo-bad-query", 500, False),
        ("redis-cluster-down", 503, True),
        ("redis-master-down", 503, True),
        ("redis-try-again", 503, True),
        ("redis-no-permission", 500, False),
        ("redis-wrong-type", 500, False),
    ],
)
async def test_error_statuses(name: str, status: int, retry: bool) -> None:
    app = Litestar([fail], exception_handlers=exception_handlers)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get(f"/fail/{name}")
    assert response.status_code == status
    assert ("retry-after" in response.headers) == retry
    body = response.json()
    assert body["status_code"] == status
    assert "/var/media" not in body["detail"]  # paths stay in the log
    if name == "blocks-missing":
        assert len(body["extra"]["missing"]) == 1000
