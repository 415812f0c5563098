"""The transcode queue: a `video_jobs` table shared by every worker and replica.

- **Claim.** One short transaction picks the oldest runnable job: queued and due (`run_after`), or
  running with an expired lease (its worker died). PostgreSQL skips rows another runner is claiming
  (`FOR UPDATE SKIP LOCKED`); SQLite (one writer) needs no lock. The conditional UPDATE that takes
  the job is the real guard, so two runners can never both take it.
- **Lease.** A running job is the claimer's until `locked_until`; a heartbeat renews it. Every write a
  runner makes for its job goes through `hold`, which renews the lease only while the job is still
  running, still the runner's, and its video still exists; otherwise the runner lost it (cancelled,
  video deleted, taken over) and must stop and drop what it wrote.
- **Attempts** are counted when claimed, so a job that kills its worker every time still runs out.
  A failure is retried after TRANSCODE_RETRY_DELAY, doubling each time, up to TRANSCODE_ATTEMPTS.
- **Again.** `huddle transcode` queues a fresh job for videos that have none (uploaded before
  renditions existed), whose newest job failed, or all of them (after adding a height: a job makes
  only what is missing). A finished job that a newer one of its video replaced, or whose video is
  gone, is pruned by the sweeper a while later (a video's newest job is its processing state).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Sequence
from typing import Literal, NamedTuple

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from app.config import Settings
from app.db.models.media import (
    ERROR_MAX,
    JOB_CANCELLED,
    JOB_DONE,
    JOB_FAILED,
    JOB_QUEUED,
    JOB_RUNNING,
    Rendition,
    Video,
    VideoJob,
)

WORKER_LOST = "the worker running it stopped too often; giving up"


class LeaseLost(Exception):
    """The job is no longer this runner's: cancelled, its video deleted, or taken over."""


class Lease(NamedTuple):
    job_id: int
    video_id: int
    source_key: str
    attempts: int
    worker: str


def worker_name() -> str:
    """Who holds a lease: host, process id (the fault tests find the worker by it) and a token."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_job(video: Video) -> VideoJob:
    return VideoJob(video_id=video.id, source_key=video.blob_key, state=JOB_QUEUED, run_after=utcnow())


def _runnable(moment: dt.datetime) -> ColumnElement[bool]:
    return or_(
        and_(VideoJob.state == JOB_QUEUED, VideoJob.run_after <= moment),
        and_(VideoJob.state == JOB_RUNNING, VideoJob.locked_until < moment),
    )


def _owned(lease: Lease) -> ColumnElement[bool]:
    return and_(
        VideoJob.id == lease.job_id, VideoJob.state == JOB_RUNNING, VideoJob.locked_by == lease.worker
    )


def _same_video(lease: Lease) -> tuple[ColumnElement[bool], ...]:
    # The key too: SQLite may give a deleted video's id to the next one.
    return (Video.id == lease.video_id, Video.blob_key == lease.source_key)


class Queue:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.lease = dt.timedelta(seconds=settings.transcode_lease_seconds)
        self.attempts = settings.transcode_attempts
        self.retry_delay = settings.transcode_retry_delay_seconds

    async def claim(self, worker: str) -> Lease | None:
        moment = utcnow()
        async with self.sessions() as db:
            job_id = await db.scalar(
                select(VideoJob.id)
                .where(_runnable(moment), VideoJob.attempts < self.attempts)
                .order_by(VideoJob.run_after, VideoJob.id)
                .limit(1)
                .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders no lock clause
            )
            if job_id is None:
                await db.commit()
                return None
            taken = await db.execute(
                update(VideoJob)
                .where(VideoJob.id == job_id, _runnable(moment), VideoJob.attempts < self.attempts)
                .values(
                    state=JOB_RUNNING,
                    attempts=VideoJob.attempts + 1,
                    locked_until=moment + self.lease,
                    locked_by=worker,
                )
                .returning(VideoJob.video_id, VideoJob.source_key, VideoJob.attempts)
            )
            row = taken.first()
            await db.commit()
        if row is None:
            return None
        return Lease(job_id, row.video_id, row.source_key, row.attempts, worker)

    async def abandoned(self) -> list[int]:
        """Fail the jobs whose worker died on their last attempt; their video ids."""
        moment = utcnow()
        async with self.sessions() as db:
            lost = list(
                (
                    await db.execute(
                        select(VideoJob.id, VideoJob.video_id).where(
                            VideoJob.state == JOB_RUNNING,
                            VideoJob.locked_until < moment,
                            VideoJob.attempts >= self.attempts,
                        )
                    )
                ).all()
            )
            for job_id, video_id in lost:
                await db.execute(
                    update(VideoJob)
                    .where(
                        VideoJob.id == job_id, VideoJob.state == JOB_RUNNING, VideoJob.locked_until < moment
                    )
                    .values(state=JOB_FAILED, error=WORKER_LOST, locked_until=None)
                )
                await _fail_renditions(db, video_id)
            await db.commit()
        return [video_id for _, video_id in lost]

    async def hold(self, db: AsyncSession, lease: Lease) -> None:
        """Renew the lease inside `db`'s transaction, or raise LeaseLost (see the module doc)."""
        renewed = await db.execute(
            update(VideoJob)
            .where(_owned(lease), exists(select(Video.id).where(*_same_video(lease))))
            .values(locked_until=utcnow() + self.lease)
        )
        if renewed.rowcount != 1:  # type: ignore[attr-defined]
            await db.rollback()
            raise LeaseLost

    async def renew(self, lease: Lease) -> bool:
        async with self.sessions() as db:
            try:
                await self.hold(db, lease)
            except LeaseLost:
                return False
            await db.commit()
            return True

    async def complete(self, lease: Lease) -> bool:
        return await self._settle(lease, state=JOB_DONE, error=None, locked_until=None)

    async def fail(self, lease: Lease, error: str, *, permanent: bool) -> bool:
        """Retry later with backoff, or fail for good (its unfinished renditions with it)."""
        error = error[:ERROR_MAX]
        if permanent or lease.attempts >= self.attempts:
            async with self.sessions() as db:
                failed = await db.execute(
                    update(VideoJob)
                    .where(_owned(lease))
                    .values(state=JOB_FAILED, error=error, locked_until=None)
                )
                if failed.rowcount == 1:  # type: ignore[attr-defined]
                    await _fail_renditions(db, lease.video_id)
                await db.commit()
                return bool(failed.rowcount)  # type: ignore[attr-defined]
        delay = dt.timedelta(seconds=self.retry_delay * 2 ** (lease.attempts - 1))
        async with self.sessions() as db:
            await db.execute(
                update(Rendition)
                .where(Rendition.video_id == lease.video_id, Rendition.state != JOB_DONE)
                .values(state=JOB_QUEUED, progress=0)
            )
            return await self._settle(
                lease, db=db, state=JOB_QUEUED, error=error, run_after=utcnow() + delay, locked_by=None
            )

    async def release(self, lease: Lease) -> bool:
        """Shutting down: give the job back at once, without counting this attempt."""
        return await self._settle(
            lease,
            state=JOB_QUEUED,
            attempts=VideoJob.attempts - 1,
            run_after=utcnow(),
            locked_until=None,
            locked_by=None,
        )

    async def cancel(self, lease: Lease) -> None:
        """The video is gone (with its group): nothing left to do."""
        async with self.sessions() as db:
            await db.execute(
                update(VideoJob)
                .where(VideoJob.id == lease.job_id, VideoJob.state.in_([JOB_QUEUED, JOB_RUNNING]))
                .values(state=JOB_CANCELLED, locked_until=None)
            )
            await db.commit()

    async def state(self, job_id: int) -> str | None:
        async with self.sessions() as db:
            return await db.scalar(select(VideoJob.state).where(VideoJob.id == job_id))

    async def _settle(self, lease: Lease, db: AsyncSession | None = None, **values: object) -> bool:
        if db is None:
            async with self.sessions() as session:
                return await self._settle(lease, session, **values)
        settled = await db.execute(update(VideoJob).where(_owned(lease)).values(**values))
        if settled.rowcount != 1:  # type: ignore[attr-defined]
            await db.rollback()
            return False
        await db.commit()
        return True


async def _fail_renditions(db: AsyncSession, video_id: int) -> None:
    await db.execute(
        update(Rendition)
        .where(Rendition.video_id == video_id, Rendition.state != JOB_DONE)
        .values(state=JOB_FAILED)
    )


Again = Literal["untranscoded", "failed", "all", "videos"]
FINISHED = (JOB_DONE, JOB_FAILED, JOB_CANCELLED)


async def queue_again(db: AsyncSession, which: Again, video_ids: Sequence[int] = ()) -> list[int]:
    """Queue a fresh job for the chosen videos (`videos`: those of `video_ids`) unless one is already
    queued or running; the ids of the videos queued, committed."""
    newest = (
        select(VideoJob.state)
        .where(VideoJob.video_id == Video.id)
        .order_by(VideoJob.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = select(Video).where(or_(newest.is_(None), newest.in_(FINISHED))).order_by(Video.id)
    if which == "untranscoded":
        query = query.where(newest.is_(None))
    elif which == "failed":
        query = query.where(newest == JOB_FAILED)
    elif which == "videos":
        query = query.where(Video.id.in_(video_ids))
    videos = list(await db.scalars(query))
    db.add_all(new_job(video) for video in videos)
    queued = [video.id for video in videos]
    await db.commit()
    return queued


async def prune_jobs(db: AsyncSession, before: dt.datetime) -> int:
    """Delete the jobs finished before `before` that no longer say anything: a newer job of the same
    video replaced them, or the video is gone. Committed; how many."""
    newer = aliased(VideoJob)
    pruned = await db.execute(
        delete(VideoJob).where(
            VideoJob.state.in_(FINISHED),
            VideoJob.updated_at < before,
            or_(
                exists(select(newer.id).where(newer.video_id == VideoJob.video_id, newer.id > VideoJob.id)),
                ~exists(select(Video.id).where(Video.id == VideoJob.video_id)),
            ),
        )
    )
    await db.commit()
    return int(pruned.rowcount)  # type: ignore[attr-defined]


async def cancel_video_jobs(db: AsyncSession, video_id: int) -> None:
    """Deleting a video: its queued or running jobs are cancelled in the same transaction. A runner
    working on one notices at its next heartbeat or write, kills ffmpeg and drops what it wrote."""
    await db.execute(
        update(VideoJob)
        .where(VideoJob.video_id == video_id, VideoJob.state.in_([JOB_QUEUED, JOB_RUNNING]))
        .values(state=JOB_CANCELLED, locked_until=None)
    )
