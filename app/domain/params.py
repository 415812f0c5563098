"""Parameter types shared by every controller: ids that fit a BIGINT, bounded pages, injected deps."""

from __future__ import annotations

from typing import Annotated

from litestar.di import NamedDependency
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.ids import MAX_ID
from app.domain.runtime import Runtime

Id = Annotated[int, Parameter(ge=1, le=MAX_ID)]
PageLimit = Annotated[int, Parameter(ge=1, le=100, description="Page size (1-100)")]
Offset = Annotated[int, Parameter(ge=0, le=100_000, description="Items to skip")]

# Injected by name (Litestar 3 drops inferred dependencies).
DbSession = NamedDependency[AsyncSession]
RuntimeDep = NamedDependency[Runtime]
