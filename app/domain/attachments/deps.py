"""Provider for the attachment service."""

from __future__ import annotations

from litestar.di import NamedDependency

from app.domain.attachments.services import AttachmentService
from app.domain.params import DbSession, RuntimeDep


def provide_attachments(db_session: DbSession, runtime: RuntimeDep) -> AttachmentService:
    return AttachmentService(db_session, runtime)


Attachments = NamedDependency[AttachmentService]
