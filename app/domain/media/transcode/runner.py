"""The transcode runner: TRANSCODE_CONCURRENCY slots per process, each claiming one job at a time.

Started by every app process's lifespan (0 disables it: API-only replicas) and by `huddle worker`
(dedicated transcode replicas). While a job runs, a heartbeat renews its lease every third of
TRANSCODE_LEASE; when renewal fails the job was cancelled (video deleted) or taken over, and the job
is stopped at once (ffmpeg killed). TRANSCODE_TIMEOUT bounds a job; past it, it fails and is retried.
On shutdown running jobs are handed back to the queue without counting the attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from app.db.models.media import JOB_CANCELLED, Video
from app.domain.media.transcode import ffmpeg
from app.domain.media.transcode.jobs import Lease, LeaseLost, Queue, worker_name
from app.domain.media.transcode.renditions import TranscodeJob, announce, remove_derived
from app.domain.runtime import Runtime
from app.shutdown import before_worker_stops

log = logging.getLogger("huddle.transcode")
STOP_GRACE_SECONDS = 10.0


class _Stopped(Exception):
    """Why a job's task was cancelled from outside."""


class TranscodeRunner:
    def __init__(self, runtime: Runtime, concurrency: int | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.concurrency = self.settings.transcode_concurrency if concurrency is None else concurrency
        self.queue = Queue(runtime.sessions, self.settings)
        self.worker = worker_name()
        self._stopping = asyncio.Event()
        self._slots: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self.concurrency <= 0:
            return
        for tool in (self.settings.ffmpeg_path, self.settings.ffprobe_path):
            missing = ffmpeg.tool_missing(tool)
            if missing:
                log.warning("%s: transcode jobs will fail; videos play in their original quality", missing)
        loop = asyncio.get_running_loop()
        self._slots = [loop.create_task(self._slot()) for _ in range(self.concurrency)]
        # In a worker of `huddle run`: stop at the signal, not at the lifespan's end up to 30 s later
        # (requests drain first), so nothing new is claimed and running jobs go back at once.
        before_worker_stops(self._stopping.set, 0.0)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop claiming; running jobs are stopped (ffmpeg killed) and handed back to the queue.

        Slots are asked, not cancelled: cancelling one inside a database call would break its
        connection. Only a slot still busy after `grace` seconds is cancelled.
        """
        self._stopping.set()
        if not self._slots:
            return
        await asyncio.wait(self._slots, timeout=grace)
        for slot in self._slots:
            slot.cancel()
        for slot in self._slots:
            with contextlib.suppress(asyncio.CancelledError):
                await slot

    async def _slot(self) -> None:
        while not self._stopping.is_set():
            try:
                given_up = await self.queue.abandoned()
                if given_up:
                    await announce(self.runtime, given_up)
                lease = await self.queue.claim(self.worker)
            except Exception as error:  # noqa: BLE001 -- a database blip: try again next round
                log.warning("transcode queue unavailable: %s", type(error).__name__)
                lease = None
            if lease is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.transcode_poll_seconds)
                continue
            await self.work(lease)

    async def work(self, lease: Lease) -> None:
        log.info("transcode job %d (video %d) attempt %d", lease.job_id, lease.video_id, lease.attempts)
        job = asyncio.ensure_future(TranscodeJob(self.runtime, self.queue, lease).run())
        reason = await self._watch(job, lease)
        try:
            await self._settle(job, lease, reason)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not record the outcome of transcode job %d", lease.job_id)

    async def _watch(self, job: asyncio.Future[bool], lease: Lease) -> str | None:
        """Wait for the job, renewing its lease; cancel it when the lease is lost, on timeout or
        shutdown. The reason it was stopped, or None when it ended by itself."""
        beat = self.settings.transcode_lease_seconds / 3
        deadline = asyncio.get_running_loop().time() + self.settings.transcode_timeout_seconds
        reason: str | None = None
        stopping = asyncio.ensure_future(self._stopping.wait())
        either: set[asyncio.Future[Any]] = {job, stopping}
        try:
            while not job.done():
                left = deadline - asyncio.get_running_loop().time()
                await asyncio.wait(
                    either, timeout=max(0.0, min(beat, left)), return_when=asyncio.FIRST_COMPLETED
                )
                if job.done():
                    break
                if stopping.done():
                    reason = "shutdown"
                elif asyncio.get_running_loop().time() >= deadline:
                    reason = "timeout"
                elif not await self._renew(lease):
                    reason = "lost"
                if reason:
                    break
        except asyncio.CancelledError:
            reason = "shutdown"
        finally:
            stopping.cancel()
        if reason:
            job.cancel()
            with contextlib.suppress(BaseException):
                await job
        return reason

    async def _renew(self, lease: Lease) -> bool:
        try:
            return await self.queue.renew(lease)
        except Exception as error:  # noqa: BLE001 -- a blip: the lease has time left; try next beat
            log.warning("could not renew transcode job %d: %s", lease.job_id, type(error).__name__)
            return True

    async def _settle(self, job: asyncio.Future[bool], lease: Lease, reason: str | None) -> None:
        if reason == "shutdown":
            await asyncio.shield(self.queue.release(lease))
            return
        if reason == "lost":
            await self._lost(lease)
            return
        if reason == "timeout":
            error = f"timed out after {self.settings.transcode_timeout_seconds} s (TRANSCODE_TIMEOUT)"
            await self.queue.fail(lease, error, permanent=False)
        elif (failure := job.exception()) is not None:
            await self._failed(lease, failure)
        elif job.result():
            await self.queue.complete(lease)
            log.info("transcode job %d (video %d) done", lease.job_id, lease.video_id)
        else:  # the video went with its group before the job started
            await self.queue.cancel(lease)
            await remove_derived(self.runtime.blobs, [lease.source_key])
            return
        await announce(self.runtime, [lease.video_id])

    async def _failed(self, lease: Lease, failure: BaseException) -> None:
        if isinstance(failure, LeaseLost):
            await self._lost(lease)
            return
        # Members see the job's error: a plain reason. The tool's output (server paths) is logged.
        if isinstance(failure, ffmpeg.MediaToolError):
            permanent, reason = failure.permanent, failure.reason
        else:
            permanent, reason = False, ffmpeg.CONVERSION_FAILED
            log.error("transcode job %d failed", lease.job_id, exc_info=failure)
        message = str(failure) or type(failure).__name__
        await self.queue.fail(lease, reason, permanent=permanent)
        log.warning("transcode job %d (video %d) failed: %s", lease.job_id, lease.video_id, message)

    async def _lost(self, lease: Lease) -> None:
        """Cancelled (the video was deleted) or gone with its group: remove whatever was written.
        Taken over by another runner (this one stalled past its lease): leave it to that one."""
        state = await self.queue.state(lease.job_id)
        async with self.runtime.sessions() as db:
            video = await db.get(Video, lease.video_id)
            video_exists = video is not None and video.blob_key == lease.source_key
        if state == JOB_CANCELLED or not video_exists:
            await self.queue.cancel(lease)
            await remove_derived(self.runtime.blobs, [lease.source_key])
            log.info("transcode job %d cancelled: video %d was deleted", lease.job_id, lease.video_id)
