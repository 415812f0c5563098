"""Providers for the video catalog, its subtitle tracks and the two upload services."""

from __future__ import annotations

from litestar.di import NamedDependency

from app.domain.media.catalog.services import MediaService
from app.domain.media.subtitles.services import SubtitleService
from app.domain.media.uploads.form import FormUploads
from app.domain.media.uploads.resumable import ResumableUploads
from app.domain.params import DbSession, RuntimeDep


def provide_media(db_session: DbSession, runtime: RuntimeDep) -> MediaService:
    return MediaService(db_session, runtime)


def provide_form_uploads(db_session: DbSession, runtime: RuntimeDep) -> FormUploads:
    return FormUploads(db_session, runtime)


def provide_resumable(db_session: DbSession, runtime: RuntimeDep) -> ResumableUploads:
    return ResumableUploads(db_session, runtime)


def provide_subtitles(db_session: DbSession, runtime: RuntimeDep) -> SubtitleService:
    return SubtitleService(db_session, runtime)


Media = NamedDependency[MediaService]
Subtitles = NamedDependency[SubtitleService]
Forms = NamedDependency[FormUploads]
Resumable = NamedDependency[ResumableUploads]
