"""Transcode jobs survive a dead worker: real processes, PostgreSQL, Redis and ffmpeg.

The worker holding a job's lease is SIGKILLed in the middle of a rendition (TRANSCODE_REALTIME makes
a 6 s clip take at least 6 s per rendition); after TRANSCODE_LEASE the job is taken over and
completes. Two ways to run jobs: a Granian worker of `huddle run` (respawned by Granian), and a
dedicated `huddle worker` process beside an API-only server (started again by the test)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.models.media import VideoJob
from tests.conftest import SECRET
from tests.ffmpeg import make_video, probe, stream_of
from tests.process import APP_VARIABLES, run_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
WAIT_SECONDS = 180  # a bound for a busy machine, not an expectation
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(postgres_url: str) -> str:
    return postgres_url  # the session's migrated database (tests/conftest.py)


def environment(database: str, redis_env: tuple[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database,
        "REDIS_URL": redis_env[0],
        "REDIS_KEY_PREFIX": f"{redis_env[1]}{tmp_path.name}:",
        "SECRET_KEY": SECRET,
        "BCRYPT_ROUNDS": "4",
        "LOGIN_RATE_LIMIT": "100000",
        "MEDIA_DIR": str(tmp_path / "media"),
        "TRANSCODE_RENDITIONS": "144",
        "TRANSCODE_REALTIME": "1",
        "TRANSCODE_LEASE": "2",
        "TRANSCODE_POLL_INTERVAL": "1",
    } | extra


def deadline_passed(started: float) -> bool:
    return time.monotonic() - started > WAIT_SECONDS


def sign_up_and_upload(url: str, clip: Path) -> tuple[dict[str, str], int]:
    with httpx.Client(base_url=url, timeout=30) as http:
        account = http.post(
            "/register",
            json={"email": f"k{time.time_ns()}@example.com", "name": "K", "password": "password123"},
        )
        assert account.status_code in {200, 201}, account.text
        headers = {"authorization": f"Bearer {account.json()['access_token']}"}
        group = http.post("/api/v1/groups", json={"name": "Films"}, headers=headers)
        assert group.status_code == 201, group.text
        video = http.post(
            f"/api/v1/groups/{group.json()['id']}/videos",
            files={"file": ("long.mp4", clip.read_bytes(), "video/mp4")},
            headers=headers,
        )
        assert video.status_code == 201, video.text
        return headers, int(video.json()["id"])


async def job_of(database: str, video_id: int) -> Any:
    """The job's row (state, attempts, locked_by), read straight from the database."""
    engine = create_async_engine(database)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(VideoJob).where(VideoJob.video_id == video_id))).first()
    finally:
        await engine.dispose()


async def running_in(database: str, video_id: int, url: str, headers: dict[str, str]) -> int:
    """Once the 144p rendition is being made, the pid of the process holding the job."""
    started = time.monotonic()
    while True:
        video = httpx.get(f"{url}/api/v1/videos/{video_id}", headers=headers, timeout=10).json()
        rendition = next((q for q in video["qualities"] if q["quality"] == "144p"), None)
        if rendition and rendition["state"] == "running":
            job = await job_of(database, video_id)
            assert job is not None
            assert job.locked_by is not None
            return int(job.locked_by.split(":")[1])
        assert not deadline_passed(started), f"the 144p rendition never started: {video}"
        await asyncio.sleep(0.1)


async def finished(url: str, video_id: int, headers: dict[str, str]) -> dict[str, Any]:
    started = time.monotonic()
    while True:
        try:
            video: dict[str, Any] = httpx.get(
                f"{url}/api/v1/videos/{video_id}", headers=headers, timeout=10
            ).json()
        except httpx.TransportError:
            # A connection the killed worker had accepted is reset: a client retries.
            assert not deadline_passed(started), "the server never answered again"
            await asyncio.sleep(0.2)
            continue
        if video["processing"] == "done":
            return video
        assert video["processing"] in {"queued", "running"}, video
        assert not deadline_passed(started), f"the job never completed: {video}"
        await asyncio.sleep(0.2)


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


async def check_completed(
    database: str, url: str, video_id: int, headers: dict[str, str], killed: int, tmp_path: Path
) -> None:
    video = await finished(url, video_id, headers)
    job = await job_of(database, video_id)
    assert job is not None
    assert job.attempts == 2  # the killed attempt, and the one that finished
    assert job.locked_by is not None
    assert int(job.locked_by.split(":")[1]) != killed
    rendition = next(q for q in video["qualities"] if q["quality"] == "144p")
    part = httpx.get(f"{url}{rendition['url']}", headers={"range": "bytes=0-"}, timeout=30)
    assert part.status_code == 206
    (tmp_path / "144p.mp4").write_bytes(part.content)
    assert stream_of(probe(tmp_path / "144p.mp4"), "video")["height"] == 144


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("clips") / "long.mp4", seconds=6, width=640, height=360)


async def test_a_job_whose_granian_worker_is_killed_completes_after_the_respawn(
    database: str, redis_env: tuple[str, str], long_clip: Path, tmp_path: Path
) -> None:
    env = environment(database, redis_env, tmp_path, WORKERS="2")
    with run_server(tmp_path, **env) as server:
        headers, video_id = sign_up_and_upload(server.url, long_clip)
        pid = await running_in(database, video_id, server.url, headers)
        assert parent_of(pid) == server.process.pid  # one of our server's workers, nothing else
        os.kill(pid, signal.SIGKILL)
        await check_completed(database, server.url, video_id, headers, pid, tmp_path)


async def test_a_job_whose_dedicated_worker_is_killed_completes_after_a_restart(
    database: str, redis_env: tuple[str, str], long_clip: Path, tmp_path: Path
) -> None:
    # The API replica runs no jobs; `huddle worker` does.
    env = environment(database, redis_env, tmp_path, WORKERS="1", TRANSCODE_CONCURRENCY="0")
    with run_server(tmp_path, **env) as server:
        headers, video_id = sign_up_and_upload(server.url, long_clip)
        first = start_worker(env, tmp_path, "first")
        try:
            pid = await running_in(database, video_id, server.url, headers)
            assert pid == first.pid
            first.kill()  # SIGKILL
            first.wait()
            second = start_worker(env, tmp_path, "second")
            try:
                await check_completed(database, server.url, video_id, headers, pid, tmp_path)
            finally:
                stop(second)
        finally:
            stop(first)


async def test_a_graceful_stop_hands_the_job_back_unchanged(
    database: str, redis_env: tuple[str, str], long_clip: Path, tmp_path: Path
) -> None:
    """SIGTERM to the worker's whole process group, as a terminal's Ctrl-C or systemd's default
    KillMode do: ffmpeg must not fail the job with its statistics first, nor count the attempt."""
    env = environment(database, redis_env, tmp_path, WORKERS="1", TRANSCODE_CONCURRENCY="0")
    with run_server(tmp_path, **env) as server:
        headers, video_id = sign_up_and_upload(server.url, long_clip)
        worker = start_worker(env, tmp_path, "stopped", own_group=True)
        try:
            assert await running_in(database, video_id, server.url, headers) == worker.pid
            os.killpg(worker.pid, signal.SIGTERM)
            assert worker.wait(60) == 0
        finally:
            stop(worker)
        job = await job_of(database, video_id)
        assert (job.state, job.attempts, job.error, job.locked_by) == ("queued", 0, None, None)


async def test_stopping_the_server_hands_the_job_back_unchanged(
    database: str, redis_env: tuple[str, str], long_clip: Path, tmp_path: Path
) -> None:
    """SIGTERM to `huddle run`'s process group (Ctrl-C in a terminal, systemd's default KillMode):
    ffmpeg gets it too, and must not fail the job with its statistics before the runner stops."""
    env = environment(database, redis_env, tmp_path, WORKERS="2")
    with run_server(tmp_path, own_group=True, **env) as server:
        headers, video_id = sign_up_and_upload(server.url, long_clip)
        await running_in(database, video_id, server.url, headers)
        os.killpg(server.process.pid, signal.SIGTERM)
        assert server.process.wait(60) == 0
    job = await job_of(database, video_id)
    assert (job.state, job.attempts, job.error, job.locked_by) == ("queued", 0, None, None)


def start_worker(
    env: dict[str, str], tmp_path: Path, name: str, *, own_group: bool = False
) -> subprocess.Popen[bytes]:
    base = {k: v for k, v in os.environ.items() if k not in APP_VARIABLES}
    with (tmp_path / f"worker-{name}.log").open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "app", "worker"],
            env=base | env | {"VAR_DIR": str(tmp_path / "var")},
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=own_group,  # a process group of its own, to signal as a whole
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
