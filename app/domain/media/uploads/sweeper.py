"""Removing media nobody can reach any more: expired upload sessions, and a deleted group's blobs;
and transcode jobs that no longer say anything (jobs.py).

The sweeper runs in every worker (a periodic task of the app's lifespan). Workers may sweep the same
session at once: discarding is idempotent and the row is deleted conditionally. An expired session
takes no more chunks (requests treat it as gone), so nothing is staged after its blocks are discarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.blobstore import BlobStore
from app.db.models.media import UPLOAD_DONE, Subtitle, UploadSession, Video
from app.domain.attachments.services import sweep_unsent
from app.domain.media.transcode.jobs import prune_jobs
from app.domain.media.transcode.renditions import remove_derived
from app.domain.media.uploads.resumable import stale_claim
from app.domain.runtime import Runtime

log = logging.getLogger("huddle.media")
SWEEP_BATCH = 100
FINISHED_JOBS_KEPT = dt.timedelta(hours=1)  # long past any runner still looking at its job
STOP_GRACE_SECONDS = 5.0


async def sweep_expired_uploads(runtime: Runtime, at: dt.datetime | None = None) -> int:
    """Delete the sessions expired at `at` (now by default) and discard their staged blocks."""
    moment = at or dt.datetime.now(dt.UTC)
    swept = 0
    while True:
        async with runtime.sessions() as db:
            rows = (
                await db.execute(
                    select(UploadSession.id, UploadSession.blob_key, UploadSession.state)
                    .where(UploadSession.expires_at <= moment, stale_claim(moment))
                    .limit(SWEEP_BATCH)
                )
            ).all()
            await db.commit()  # hold no connection while talking to the blob store
            for upload_id, key, state in rows:
                # Blocks first: if that fails, the row stays and the next round retries.
                if state != UPLOAD_DONE:  # a done session's key is its video's blob: kept
                    await runtime.blobs.discard(key)
                    await runtime.blobs.delete(key)  # committed by a `complete` that died
                removed = await db.execute(
                    delete(UploadSession).where(
                        UploadSession.id == upload_id, UploadSession.expires_at <= moment
                    )
                )
                await db.commit()
                swept += removed.rowcount  # type: ignore[attr-defined]
        if len(rows) < SWEEP_BATCH:
            return swept


class UploadSweeper:
    """Sweeps at start and then every UPLOAD_SWEEP_INTERVAL seconds. `stop` lets a sweep in progress
    finish (briefly) rather than cancel it inside a database call."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        interval = self._runtime.settings.upload_sweep_interval_seconds
        while not self._stopping.is_set():
            try:
                swept = await sweep_expired_uploads(self._runtime)
                swept += await sweep_unsent(self._runtime)  # attachments never sent in a message
                async with self._runtime.sessions() as db:
                    pruned = await prune_jobs(db, dt.datetime.now(dt.UTC) - FINISHED_JOBS_KEPT)
            except Exception as error:  # noqa: BLE001 -- a database or storage blip: next round retries
                log.warning("upload sweep failed: %s", type(error).__name__)
            else:
                if swept:
                    log.info("swept %d expired upload(s) and unsent attachment(s)", swept)
                if pruned:
                    log.info("pruned %d finished transcode job(s) replaced or orphaned", pruned)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        self._stopping.set()
        if self._task is None:
            return
        await asyncio.wait({self._task}, timeout=grace)
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class GroupBlobs(NamedTuple):
    videos: list[str]  # originals (their renditions and posters are derived from these keys)
    subtitles: list[str]
    uploads: list[str]  # staged blocks of open uploads


async def group_blob_keys(db: AsyncSession, group_id: int) -> GroupBlobs:
    """Before a group is deleted (its rows cascade): its videos' and subtitles' blobs, its open
    uploads' blocks."""
    videos = list(await db.scalars(select(Video.blob_key).where(Video.group_id == group_id)))
    subtitles = list(await db.scalars(select(Subtitle.blob_key).where(Subtitle.group_id == group_id)))
    uploads = list(
        await db.scalars(
            select(UploadSession.blob_key).where(
                UploadSession.group_id == group_id, UploadSession.state != UPLOAD_DONE
            )
        )
    )
    return GroupBlobs(videos, subtitles, uploads)


async def remove_group_blobs(store: BlobStore, keys: GroupBlobs) -> None:
    """After the group's deletion committed. Failures leave orphaned bytes, never a broken group."""
    for key in [*keys.videos, *keys.subtitles]:
        try:
            await store.delete(key)
        except Exception:
            log.exception("could not delete blob %s of a deleted group", key)
    await remove_derived(store, keys.videos)  # renditions and posters (their jobs stop: no video)
    for key in keys.uploads:
        try:
            await store.discard(key)
        except Exception:
            log.exception("could not discard upload blocks %s of a deleted group", key)
