"""Providers for the notification service."""

from __future__ import annotations

from litestar.di import NamedDependency

from app.domain.notifications.services import NotificationService, PushService
from app.domain.params import DbSession, RuntimeDep


def provide_notifications(db_session: DbSession, runtime: RuntimeDep) -> NotificationService:
    return NotificationService(db_session, runtime)


Notifications = NamedDependency[NotificationService]


def provide_push(db_session: DbSession, runtime: RuntimeDep) -> PushService:
    return PushService(db_session, runtime)


Push = NamedDependency[PushService]
