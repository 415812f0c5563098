"""Dependencies resolve one after another in the request's own task (app/server/dependencies.py),
with the values, sub-dependencies and clean-ups Litestar would give them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.testing import TestClient

from app.server.dependencies import resolve_dependencies_in_order


def test_dependencies_of_one_depth_run_in_the_request_task_with_their_cleanups() -> None:
    resolve_dependencies_in_order()
    tasks: dict[str, asyncio.Task[object] | None] = {}
    cleaned: list[str] = []

    async def provide_session() -> AsyncIterator[str]:
        tasks["session"] = asyncio.current_task()
        yield "session"
        cleaned.append("session")

    async def provide_settings() -> str:
        tasks["settings"] = asyncio.current_task()
        return "settings"

    def provide_service(session: NamedDependency[str], settings: NamedDependency[str]) -> str:
        return f"service({session}, {settings})"

    @get("/")
    async def handler(service: NamedDependency[str], settings: NamedDependency[str]) -> str:
        tasks["handler"] = asyncio.current_task()
        return service

    app = Litestar(
        [handler],
        dependencies={
            "session": Provide(provide_session),
            "settings": Provide(provide_settings),
            "service": Provide(provide_service, sync_to_thread=False),
        },
    )
    with TestClient(app) as client:
        response = client.get("/")

    assert response.text == "service(session, settings)"
    assert cleaned == ["session"]
    assert tasks["session"] is tasks["settings"] is tasks["handler"]  # no task group
