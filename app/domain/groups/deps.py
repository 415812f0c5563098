"""Providers for the group service."""

from __future__ import annotations

from litestar.di import NamedDependency

from app.domain.groups.services import GroupService
from app.domain.params import DbSession, RuntimeDep


def provide_groups(db_session: DbSession, runtime: RuntimeDep) -> GroupService:
    return GroupService(db_session, runtime)


Groups = NamedDependency[GroupService]
