"""Liveness (`/health`) and readiness (`/health/db`: the database, and Redis when configured)."""

from __future__ import annotations

import datetime as dt

import anyio
import msgspec
from litestar import MediaType, Response, get
from sqlalchemy import text

from app.domain.params import RuntimeDep
from app.domain.runtime import Runtime
from app.kv.redis_state import ping as redis_ping
from app.web.responses import error_responses

CHECK_TIMEOUT_SECONDS = 2.0
HEALTH = ["health"]


class Liveness(msgspec.Struct):
    status: str
    timestamp: dt.datetime


class Readiness(msgspec.Struct):
    status: str
    database: str
    redis: str
    mongodb: str
    down: list[str]


@get("/health", tags=HEALTH, summary="Liveness: the process serves requests", cache=False)
async def health() -> Liveness:
    return Liveness(status="healthy", timestamp=dt.datetime.now(dt.UTC))


async def _probe(check: object) -> bool:
    try:
        with anyio.fail_after(CHECK_TIMEOUT_SECONDS):
            await check  # type: ignore[misc]
    except Exception:  # noqa: BLE001 -- any failure means "down"; the reason is not the caller's business
        return False
    return True


async def _database_ok(runtime: Runtime) -> bool:
    async def query() -> None:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return await _probe(query())


@get(
    "/health/db",
    tags=HEALTH,
    summary="Readiness: database and Redis reachable (503 names what is down)",
    responses=error_responses(503),
    cache=False,
)
async def health_db(runtime: RuntimeDep) -> Response[Readiness]:
    database = await _database_ok(runtime)
    redis = (
        "not_configured"
        if runtime.redis is None
        else ("connected" if await _probe(redis_ping(runtime.redis)) else "unavailable")
    )
    mongodb = (
        "not_configured"
        if not runtime.settings.mongodb_url
        else ("connected" if await _probe(runtime.messages.ping()) else "unavailable")
    )
    states = {"database": "connected" if database else "unavailable", "redis": redis, "mongodb": mongodb}
    down = [name for name, state in states.items() if state == "unavailable"]
    body = Readiness(status="unavailable" if down else "ok", down=down, **states)
    return Response(body, status_code=503 if down else 200, media_type=MediaType.JSON)


route_handlers = [health, health_db]
