"""Renditions: where they live, how a video's processing state is read, and the transcode job itself.

A job probes the video (stored on it), makes a poster and each configured rendition lower than the
source (H.264/AAC MP4, `+faststart`), and uploads them beside the original (`videos/<uuid>.360p.mp4`,
`videos/<uuid>.poster.jpg`) through the blob store, so it works the same on local disk and Azure.
ffmpeg reads and writes local files: the original is used in place on local disk, downloaded to a
temporary folder otherwise. Every change is committed under the job's lease, then pushed to the
group as a `video_processing` frame. The original stays playable throughout.

Races with deletion: a blob is uploaded *before* the write that records it, and that write holds the
lease; when the lease is gone (the video was deleted meanwhile), the blob just uploaded is removed.
Deleting a video removes every key a job could have written after its deletion committed.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.blobstore import BlobStore
from app.config import RENDITION_HEIGHTS
from app.db.models.media import JOB_DONE, JOB_QUEUED, JOB_RUNNING, Rendition, Video, VideoJob
from app.domain.media.schemas import ProcessingState, QualityState, VideoProcessing
from app.domain.media.transcode import ffmpeg
from app.domain.media.transcode.jobs import Lease, Queue
from app.domain.runtime import Runtime

log = logging.getLogger("huddle.media")

MP4 = "video/mp4"
JPEG = "image/jpeg"
POSTER_HEIGHT = 720
FILE_CHUNK = 1024 * 1024
PROGRESS_STEP = 5  # percent: a progress write and frame at most every 5 % ...
PROGRESS_SECONDS = 2.0  # ... or every 2 s, whichever comes first


def quality_name(height: int) -> str:
    return f"{height}p"


def rendition_key(source_key: str, height: int) -> str:
    return f"{source_key}.{quality_name(height)}.mp4"


def poster_key(source_key: str) -> str:
    return f"{source_key}.poster.jpg"


def derived_keys(source_key: str) -> list[str]:
    """Every blob a job may write for this video (whatever TRANSCODE_RENDITIONS was at the time)."""
    return [poster_key(source_key), *(rendition_key(source_key, h) for h in RENDITION_HEIGHTS)]


async def remove_derived(store: BlobStore, source_keys: Iterable[str]) -> None:
    """Delete renditions and posters; failures are logged (orphaned bytes, never a broken video)."""
    for source in source_keys:
        for key in derived_keys(source):
            await remove_derived_key(store, key)


# -- reading the processing state ---------------------------------------------------------------


@dataclass
class Processing:
    """A video's latest job and its renditions, as the API and the frames show them."""

    state: ProcessingState | None = None
    error: str | None = None
    renditions: list[Rendition] = field(default_factory=list)


FRESH = Processing(state="queued")  # a video just uploaded: its job is queued


def _state(value: str) -> ProcessingState:
    states: dict[str, ProcessingState] = {
        "queued": "queued",
        "running": "running",
        "done": "done",
        "failed": "failed",
        "cancelled": "cancelled",
    }
    return states.get(value, "queued")


async def load_processing(db: AsyncSession, video_ids: list[int]) -> dict[int, Processing]:
    found: dict[int, Processing] = {video_id: Processing() for video_id in video_ids}
    if not video_ids:
        return found
    jobs = await db.execute(
        select(VideoJob.video_id, VideoJob.state, VideoJob.error)
        .where(VideoJob.video_id.in_(video_ids))
        .order_by(VideoJob.id)
    )
    for video_id, state, error in jobs:  # the newest job wins
        found[video_id].state, found[video_id].error = _state(state), error
    renditions = await db.scalars(
        select(Rendition).where(Rendition.video_id.in_(video_ids)).order_by(Rendition.height)
    )
    for rendition in renditions:
        found[rendition.video_id].renditions.append(rendition)
    return found


def original_quality(video: Video) -> QualityState:
    return QualityState(
        quality="original",
        height=video.height,
        width=video.width,
        size=video.size,
        bitrate=video.bitrate,
        state="done",
        progress=100,
    )


def rendition_quality(rendition: Rendition) -> QualityState:
    return QualityState(
        quality=rendition.quality,
        height=rendition.height,
        width=rendition.width,
        size=rendition.size,
        bitrate=rendition.bitrate,
        state=_state(rendition.state),
        progress=rendition.progress,
    )


async def processing_frame(db: AsyncSession, video_id: int) -> VideoProcessing | None:
    video = await db.get(Video, video_id, populate_existing=True)
    if video is None:
        return None
    processing = (await load_processing(db, [video_id]))[video_id]
    return VideoProcessing(
        group_id=video.group_id,
        video_id=video.id,
        state=processing.state or "queued",
        error=processing.error,
        duration=video.duration,
        width=video.width,
        height=video.height,
        poster=video.poster_key is not None,
        qualities=[original_quality(video), *map(rendition_quality, processing.renditions)],
    )


async def announce(runtime: Runtime, video_ids: Iterable[int]) -> None:
    """Push each video's processing state to its group (after the change committed)."""
    for video_id in video_ids:
        async with runtime.sessions() as db:
            frame = await processing_frame(db, video_id)
        if frame is not None:
            await runtime.events.to_group(frame.group_id, frame)


# -- the job ------------------------------------------------------------------------------------


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as handle:
        while chunk := await handle.read(FILE_CHUNK):
            yield chunk


class TranscodeJob:
    """One claimed job, run by the runner under its lease (which the runner's heartbeat renews)."""

    def __init__(self, runtime: Runtime, queue: Queue, lease: Lease) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.store = runtime.blobs
        self.queue = queue
        self.lease = lease
        self._writing: str | None = None  # a blob being uploaded, removed if the job stops meanwhile

    async def run(self) -> bool:
        """Make what is missing; False when the video no longer exists (nothing to do)."""
        async with self.runtime.sessions() as db:
            video = await db.get(Video, self.lease.video_id)
            await db.commit()
        if video is None or video.blob_key != self.lease.source_key:
            return False
        if await self.store.stat(video.blob_key) is None:
            missing = "the original is missing from storage"
            raise ffmpeg.MediaToolError(missing, permanent=True, reason=missing)
        try:
            async with self._source(video.blob_key) as source:
                await self._process(video, source)
        except BaseException:
            if self._writing is not None:
                with anyio.CancelScope(shield=True):
                    await remove_derived_key(self.store, self._writing)
            raise
        return True

    @contextlib.asynccontextmanager
    async def _source(self, key: str) -> AsyncIterator[Path]:
        local = self.store.local_path(key)
        if local is not None:
            yield local
            return
        with tempfile.TemporaryDirectory(prefix="huddle-source-") as folder:
            path = Path(folder) / "source"
            async with (
                await anyio.open_file(path, "wb") as handle,
                aclosing(self.store.read(key, 0, 2**62)) as chunks,
            ):
                async for chunk in chunks:
                    await handle.write(chunk)
            yield path

    async def _process(self, video: Video, source: Path) -> None:
        probe = await ffmpeg.probe(self.settings.ffprobe_path, source)
        heights = [h for h in self.settings.transcode_renditions if h < probe.height]
        async with self.runtime.sessions() as db:
            await self.queue.hold(db, self.lease)
            await db.execute(
                update(Video)
                .where(Video.id == video.id)
                .values(
                    duration=probe.duration,
                    width=probe.width,
                    height=probe.height,
                    bitrate=probe.bitrate,
                    video_codec=probe.video_codec,
                    audio_codec=probe.audio_codec,
                )
            )
            existing = {
                r.quality: r
                for r in await db.scalars(select(Rendition).where(Rendition.video_id == video.id))
            }
            for height in heights:
                if quality_name(height) not in existing:
                    db.add(
                        Rendition(
                            video_id=video.id,
                            quality=quality_name(height),
                            blob_key=rendition_key(video.blob_key, height),
                            height=height,
                            state=JOB_QUEUED,
                        )
                    )
            await db.commit()
        await self._announce()
        with tempfile.TemporaryDirectory(prefix="huddle-transcode-") as folder:
            work = Path(folder)
            if video.poster_key is None:
                await self._poster(video, source, work / "poster.jpg", probe)
            for height in heights:
                done = existing.get(quality_name(height))
                if done is not None and done.state == JOB_DONE and await self.store.stat(done.blob_key):
                    continue  # made by an earlier attempt
                await self._rendition(video, source, work / f"{height}.mp4", height, probe)

    async def _poster(self, video: Video, source: Path, target: Path, probe: ffmpeg.Probe) -> None:
        await ffmpeg.poster(self.settings.ffmpeg_path, source, target, probe.duration, POSTER_HEIGHT)
        key = poster_key(video.blob_key)
        await self._upload(key, target, JPEG)
        async with self.runtime.sessions() as db:
            await self._hold_or_drop(db, key)
            await db.execute(update(Video).where(Video.id == video.id).values(poster_key=key))
            await db.commit()
        self._writing = None
        await self._announce()

    async def _rendition(
        self, video: Video, source: Path, target: Path, height: int, probe: ffmpeg.Probe
    ) -> None:
        quality = quality_name(height)
        await self._set(video.id, quality, state=JOB_RUNNING, progress=0)
        await self._announce()
        last = (0, time.monotonic())

        async def progress(percent: int) -> None:
            nonlocal last
            if percent - last[0] < PROGRESS_STEP and time.monotonic() - last[1] < PROGRESS_SECONDS:
                return
            last = (percent, time.monotonic())
            await self._set(video.id, quality, progress=percent)
            await self._announce()

        args = ffmpeg.rendition_args(
            self.settings.ffmpeg_path,
            source,
            target,
            height,
            audio=probe.audio_codec is not None,
            realtime=self.settings.transcode_realtime,
        )
        await ffmpeg.transcode(args, probe.duration, progress)
        made = await ffmpeg.probe(self.settings.ffprobe_path, target)
        key = rendition_key(video.blob_key, height)
        size = await self._upload(key, target, MP4)
        async with self.runtime.sessions() as db:
            await self._hold_or_drop(db, key)
            await db.execute(
                update(Rendition)
                .where(Rendition.video_id == video.id, Rendition.quality == quality)
                .values(
                    state=JOB_DONE,
                    progress=100,
                    width=made.width,
                    height=made.height,
                    size=size,
                    bitrate=made.bitrate,
                )
            )
            await db.commit()
        self._writing = None
        await self._announce()

    async def _upload(self, key: str, path: Path, content_type: str) -> int:
        self._writing = key
        info = await self.store.put(key, _file_chunks(path), content_type)
        return info.size

    async def _hold_or_drop(self, db: AsyncSession, key: str) -> None:
        """Hold the lease for the write that records `key`; without it (the video was deleted while
        the blob was uploading) the blob goes, and LeaseLost stops the job."""
        try:
            await self.queue.hold(db, self.lease)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await remove_derived_key(self.store, key)
            self._writing = None
            raise

    async def _set(self, video_id: int, quality: str, **values: object) -> None:
        async with self.runtime.sessions() as db:
            await self.queue.hold(db, self.lease)
            await db.execute(
                update(Rendition)
                .where(Rendition.video_id == video_id, Rendition.quality == quality)
                .values(**values)
            )
            await db.commit()

    async def _announce(self) -> None:
        await announce(self.runtime, [self.lease.video_id])


async def remove_derived_key(store: BlobStore, key: str) -> None:
    try:
        await store.delete(key)
    except Exception:
        log.exception("could not delete rendition blob %s", key)
