"""Providers for the message service."""

from __future__ import annotations

from litestar.di import NamedDependency

from app.domain.messages.services import MessageService
from app.domain.params import DbSession, RuntimeDep


def provide_messages(db_session: DbSession, runtime: RuntimeDep) -> MessageService:
    return MessageService(db_session, runtime)


Messages = NamedDependency[MessageService]
