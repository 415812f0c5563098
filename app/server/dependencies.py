"""Litestar resolves the dependencies of one depth concurrently, in an anyio task group: two tasks, a
task group and their events per request for providers that never wait on anything (ours construct
services around the request's session). Measured under load, that was a third of a stream request's
time on the event loop. Resolving them one after another gives the same results, in the order Litestar
computed, without the tasks.

This replaces `KwargsModel.resolve_dependencies`, a private method; tests/unit/test_dependencies.py
fails loudly if a Litestar upgrade changes what it relies on.
"""

from __future__ import annotations

from typing import Any

from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection


async def resolve_in_order(
    self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]
) -> DependencyCleanupGroup:
    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def resolve_dependencies_in_order() -> None:
    KwargsModel.resolve_dependencies = resolve_in_order  # type: ignore[method-assign]
