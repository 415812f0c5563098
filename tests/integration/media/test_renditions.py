"""Renditions made by real ffmpeg from generated test videos: probe, transcode, progress frames,
streaming by quality with Range, cancellation on delete. Runs on SQLite + local disk and on
PostgreSQL + Redis + Azure (Azurite). Waits are bounded polls, never timed assertions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db.models.media import VideoJob
from app.domain.media.transcode.renditions import derived_keys
from app.server.app import runtime_of
from tests.conftest import AppClient
from tests.ffmpeg import make_video, probe, stream_of
from tests.integration.media.videos import KiB, group_with_owner, leftover_blobs, mp4, upload
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio
WAIT_SECONDS = 180  # a bound for a busy machine, not an expectation


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """2 s of 1280x720 test pattern with a tone."""
    return make_video(
        tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=2, width=1280, height=720
    ).read_bytes()


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """6 s at 640x360: with TRANSCODE_REALTIME each rendition takes at least 6 s to make."""
    return make_video(
        tmp_path_factory.mktemp("clips") / "long.mp4", seconds=6, width=640, height=360
    ).read_bytes()


@pytest.fixture
def transcoding(
    media_settings: Callable[..., Settings], settings: Settings, own_database: str
) -> Callable[..., Settings]:
    """Settings with a runner, on the test's own database (a runner claims any queued job);
    `settings` first sets up Redis and Azurite (they start synchronously, outside the test's
    event loop)."""
    del settings

    def build(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "database_url": own_database,
            "transcode_concurrency": 1,
            "transcode_renditions": (360, 720),
            "transcode_poll_seconds": 0.2,
        }
        return media_settings(**(base | overrides))

    return build


async def until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll `check` until it returns something truthy (bounded by WAIT_SECONDS)."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


async def video_of(client: AppClient, headers: dict[str, str], video_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/videos/{video_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def quality(video: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((q for q in video["qualities"] if q["quality"] == name), None)


async def processed(client: AppClient, headers: dict[str, str], video_id: int) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        video = await video_of(client, headers, video_id)
        assert video["processing"] in {"queued", "running", "done"}, video
        return video if video["processing"] == "done" else None

    result: dict[str, Any] = await until(done, f"video {video_id} to be processed")
    return result


async def jobs_of(client: AppClient, video_id: int) -> list[VideoJob]:
    async with runtime_of(client.app).sessions() as db:
        return list(await db.scalars(select(VideoJob).where(VideoJob.video_id == video_id)))


async def job_state(client: AppClient, job_id: int) -> str | None:
    async with runtime_of(client.app).sessions() as db:
        return await db.scalar(select(VideoJob.state).where(VideoJob.id == job_id))


async def test_upload_makes_renditions_below_the_source_that_stream_by_range(
    make_client: Callable[[Settings], Awaitable[AppClient]],
    transcoding: Callable[..., Settings],
    clip: bytes,
    tmp_path: Path,
) -> None:
    client = await make_client(transcoding())
    owner, gid = await group_with_owner(client)
    uploaded = await upload(client, owner, gid, clip)
    assert uploaded["processing"] == "queued"
    assert [q["quality"] for q in uploaded["qualities"]] == ["original"]  # playable at once

    video = await processed(client, owner.headers, uploaded["id"])
    assert (video["width"], video["height"]) == (1280, 720)
    assert video["video_codec"] == "h264"
    assert video["audio_codec"] == "aac"
    assert video["duration"] == pytest.approx(2.0, abs=0.2)
    # 720p is not below a 720p source: only 360p is made.
    assert [q["quality"] for q in video["qualities"]] == ["original", "360p"]
    rendition = quality(video, "360p")
    assert rendition is not None
    assert rendition["state"] == "done"
    assert rendition["progress"] == 100
    assert (rendition["width"], rendition["height"]) == (640, 360)
    assert rendition["bitrate"] > 0

    whole = await client.get(rendition["url"])  # the signed URL, no Authorization header
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "video/mp4"
    assert len(whole.content) == rendition["size"]
    (tmp_path / "360p.mp4").write_bytes(whole.content)
    found = probe(tmp_path / "360p.mp4")
    video_stream, audio_stream = stream_of(found, "video"), stream_of(found, "audio")
    assert (video_stream["width"], video_stream["height"]) == (640, 360)
    assert video_stream["codec_name"] == "h264"
    assert audio_stream["codec_name"] == "aac"
    assert whole.content.index(b"moov") < whole.content.index(b"mdat")  # +faststart

    size = rendition["size"]
    part = await client.get(rendition["url"], headers={"range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    assert part.content == whole.content[100:200]
    tail = await client.get(
        f"/api/v1/videos/{video['id']}/stream",
        params={"quality": "360p"},
        headers={**owner.headers, "range": "bytes=-50"},
    )
    assert tail.status_code == 206
    assert tail.content == whole.content[-50:]
    head = await client.head(rendition["url"])
    assert head.status_code == 200
    assert head.headers["content-length"] == str(size)
    beyond = await client.get(rendition["url"], headers={"range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"

    poster = await client.get(video["poster_url"])
    assert poster.status_code == 200
    assert poster.headers["content-type"] == "image/jpeg"
    assert poster.content[:2] == b"\xff\xd8"


async def test_progress_is_pushed_to_the_group(
    make_client: Callable[[Settings], Awaitable[AppClient]], transcoding: Callable[..., Settings], clip: bytes
) -> None:
    client = await make_client(transcoding(transcode_renditions=(240, 360)))
    owner, gid = await group_with_owner(client)
    async with AsgiWebSocket(
        client.app, f"/ws/group/{gid}", f"token={owner.access_token}&events=all"
    ) as socket:
        uploaded = await upload(client, owner, gid, clip)
        seen: list[dict[str, Any]] = []

        def finished(frame: dict[str, Any]) -> bool:
            if frame["type"] != "video_processing":
                return False
            assert frame["video_id"] == uploaded["id"]
            assert frame["group_id"] == gid
            seen.append(frame)
            return bool(frame["state"] == "done")

        last = await socket.until(finished, timeout=WAIT_SECONDS)
    assert [q["quality"] for q in last["qualities"]] == ["original", "240p", "360p"]
    assert all(q["state"] == "done" and q["progress"] == 100 for q in last["qualities"])
    assert last["poster"] is True
    running = [q for frame in seen for q in frame["qualities"] if q["state"] == "running"]
    assert {q["quality"] for q in running} == {"240p", "360p"}  # each announced while it was made


async def test_quality_errors(
    make_client: Callable[[Settings], Awaitable[AppClient]], transcoding: Callable[..., Settings]
) -> None:
    client = await make_client(transcoding(transcode_concurrency=0))  # nothing transcodes here
    owner, gid = await group_with_owner(client)
    video = await upload(client, owner, gid, mp4(4 * KiB))
    stream = f"/api/v1/videos/{video['id']}/stream"

    unknown = await client.get(stream, params={"quality": "999p"}, headers=owner.headers)
    assert unknown.status_code == 400
    missing = await client.get(stream, params={"quality": "360p"}, headers=owner.headers)
    assert missing.status_code == 404
    assert "360p" in missing.json()["detail"]
    seed = await client.get(f"/api/stream/{video['name']}", params={"quality": "360p"}, headers=owner.headers)
    assert seed.status_code == 404
    # A signed URL is valid for the quality it was signed for only.
    other = await client.get(video["stream_url"] + "&quality=360p")
    assert other.status_code == 403
    original = await client.get(video["stream_url"] + "&quality=original")
    assert original.status_code == 200
    no_poster = await client.get(f"/api/v1/videos/{video['id']}/poster", headers=owner.headers)
    assert no_poster.status_code == 404


async def test_without_ffmpeg_the_job_fails_and_the_original_plays(
    make_client: Callable[[Settings], Awaitable[AppClient]], transcoding: Callable[..., Settings]
) -> None:
    client = await make_client(
        transcoding(ffmpeg_path="/nonexistent/ffmpeg", ffprobe_path="/nonexistent/ffprobe")
    )
    owner, gid = await group_with_owner(client)
    uploaded = await upload(client, owner, gid, mp4(4 * KiB))

    async def failed() -> dict[str, Any] | None:
        video = await video_of(client, owner.headers, uploaded["id"])
        return video if video["processing"] == "failed" else None

    video = await until(failed, "the job to fail")
    assert video["processing_error"] == "this server cannot convert videos"  # the path is in the log
    assert [q["quality"] for q in video["qualities"]] == ["original"]
    assert (await client.get(video["stream_url"])).status_code == 200
    [job] = await jobs_of(client, uploaded["id"])
    assert job.attempts == 1  # permanent: not retried


async def test_a_failed_job_tells_members_a_plain_reason_not_server_paths(
    make_client: Callable[[Settings], Awaitable[AppClient]], transcoding: Callable[..., Settings]
) -> None:
    """ffprobe's complaint names the file on the server; members see only what went wrong."""
    client = await make_client(transcoding())
    owner, gid = await group_with_owner(client)
    uploaded = await upload(client, owner, gid, mp4(4 * KiB))  # MP4 magic, then noise

    async def failed() -> dict[str, Any] | None:
        video = await video_of(client, owner.headers, uploaded["id"])
        return video if video["processing"] == "failed" else None

    video = await until(failed, "the job to fail")
    assert video["processing_error"] == "not a video this server can read"


async def test_deleting_a_video_cancels_its_job_and_removes_every_rendition(
    make_client: Callable[[Settings], Awaitable[AppClient]],
    transcoding: Callable[..., Settings],
    long_clip: bytes,
) -> None:
    settings = transcoding(transcode_renditions=(144, 240), transcode_realtime=True)
    client = await make_client(settings)
    owner, gid = await group_with_owner(client)
    uploaded = await upload(client, owner, gid, long_clip)

    async def midway() -> bool:
        video = await video_of(client, owner.headers, uploaded["id"])
        first, second = quality(video, "144p"), quality(video, "240p")
        return bool(first and second and first["state"] == "done" and second["state"] == "running")

    await until(midway, "144p done and 240p being made")  # 240p takes >= 6 s (real time)
    stored = await leftover_blobs(settings)
    key = next(name for name in stored if name.endswith(".144p.mp4")).removesuffix(".144p.mp4")
    assert set(derived_keys(key)) & set(stored) >= {f"{key}.poster.jpg", f"{key}.144p.mp4"}

    [job] = await jobs_of(client, uploaded["id"])
    assert job.state == "running"
    deleted = await client.delete(f"/api/v1/videos/{uploaded['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert await job_state(client, job.id) == "cancelled"

    async def cleared() -> bool:
        return await leftover_blobs(settings) == []

    await until(cleared, "every blob of the video to be removed")
    # The runner stopped working on it (it would otherwise keep uploading) and is free for more.
    again = await upload(client, owner, gid, mp4(4 * KiB), "next.mp4")

    async def next_settled() -> bool:
        return (await video_of(client, owner.headers, again["id"]))["processing"] == "failed"

    await until(next_settled, "the runner to take the next job")
    assert not [name for name in await leftover_blobs(settings) if name.startswith(key)]
    assert await job_state(client, job.id) == "cancelled"
