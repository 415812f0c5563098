"""Transcode jobs queued again (`huddle transcode`) and pruned (the sweeper). No runner here
(the tests' default): the test sets each job's state itself. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable

import msgspec
import pytest
from sqlalchemy import delete, select, update

from app.config import Settings
from app.db.models.media import VideoJob
from app.domain.media.transcode.jobs import Again, prune_jobs, queue_again
from app.server.app import runtime_of
from tests.conftest import SECRET, AppClient
from tests.integration.media.videos import KiB, group_with_owner, mp4, upload

pytestmark = pytest.mark.anyio
LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # every finished job is old enough by then


@pytest.fixture
def quiet(media_settings: Callable[..., Settings], settings: Settings, own_database: str) -> Settings:
    del settings  # sets up Redis and Azurite first (as in test_renditions.py)
    return media_settings(database_url=own_database)


@pytest.fixture
async def client(make_client: Callable[[Settings], Awaitable[AppClient]], quiet: Settings) -> AppClient:
    return await make_client(quiet)


async def videos(client: AppClient, count: int) -> tuple[dict[str, str], list[int]]:
    owner, gid = await group_with_owner(client)
    made = [await upload(client, owner, gid, mp4(4 * KiB, seed=n), f"v{n}.mp4") for n in range(count)]
    return owner.headers, [video["id"] for video in made]


async def jobs(client: AppClient, video_id: int) -> list[tuple[int, str]]:
    async with runtime_of(client.app).sessions() as db:
        rows = await db.execute(
            select(VideoJob.id, VideoJob.state).where(VideoJob.video_id == video_id).order_by(VideoJob.id)
        )
        return [(job_id, state) for job_id, state in rows]


async def settle(client: AppClient, video_id: int, state: str) -> None:
    """The video's queued job ends as `state`, as a runner would leave it."""
    async with runtime_of(client.app).sessions() as db:
        await db.execute(
            update(VideoJob)
            .where(VideoJob.video_id == video_id, VideoJob.state == "queued")
            .values(state=state)
        )
        await db.commit()


async def again(client: AppClient, which: Again, video_ids: list[int] | None = None) -> list[int]:
    async with runtime_of(client.app).sessions() as db:
        return await queue_again(db, which, video_ids or [])


async def processing(client: AppClient, headers: dict[str, str], video_id: int) -> str | None:
    response = await client.get(f"/api/v1/videos/{video_id}", headers=headers)
    assert response.status_code == 200, response.text
    state: str | None = response.json()["processing"]
    return state


async def test_each_choice_queues_its_videos_once(client: AppClient) -> None:
    headers, [done, failed, untranscoded, queued] = await videos(client, 4)
    await settle(client, done, "done")
    await settle(client, failed, "failed")
    async with runtime_of(client.app).sessions() as db:  # as if uploaded before renditions existed
        await db.execute(delete(VideoJob).where(VideoJob.video_id == untranscoded))
        await db.commit()
    assert await processing(client, headers, untranscoded) is None

    assert await again(client, "untranscoded") == [untranscoded]
    assert await again(client, "failed") == [failed]
    assert await again(client, "untranscoded") == await again(client, "failed") == []  # queued now
    assert await processing(client, headers, failed) == "queued"  # the newest job is the state
    assert [state for _, state in await jobs(client, failed)] == ["failed", "queued"]

    assert await again(client, "all") == [done]  # the others have a job queued
    assert await again(client, "all") == []
    for video_id in (done, failed, untranscoded, queued):
        await settle(client, video_id, "done")
    assert await again(client, "videos", [failed, queued, 10**12]) == [failed, queued]
    assert await again(client, "videos", [failed]) == []
    assert await again(client, "all") == [done, untranscoded]


async def test_pruning_keeps_every_videos_newest_job(client: AppClient) -> None:
    headers, [kept, replaced, deleted] = await videos(client, 3)
    await settle(client, kept, "failed")
    for state in ("failed", "done"):
        await settle(client, replaced, state)
        await again(client, "videos", [replaced])
    await settle(client, replaced, "done")
    gone = await client.delete(f"/api/v1/videos/{deleted}", headers=headers)
    assert gone.status_code == 204
    assert [state for _, state in await jobs(client, deleted)] == ["cancelled"]

    async with runtime_of(client.app).sessions() as db:
        assert await prune_jobs(db, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)) == 0  # too recent
        assert await prune_jobs(db, LATER) == 3
        assert await prune_jobs(db, LATER) == 0
    assert [state for _, state in await jobs(client, replaced)] == ["done"]  # of three
    assert [state for _, state in await jobs(client, kept)] == ["failed"]
    assert await jobs(client, deleted) == []
    assert await processing(client, headers, replaced) == "done"
    assert await processing(client, headers, kept) == "failed"


async def test_jobs_under_way_are_neither_queued_again_nor_pruned(client: AppClient) -> None:
    headers, [running, queued] = await videos(client, 2)
    await settle(client, running, "running")
    assert await again(client, "videos", [running, queued]) == []
    assert await again(client, "all") == []
    group_id = (await client.get(f"/api/v1/videos/{running}", headers=headers)).json()["group_id"]
    gone = await client.delete(f"/api/v1/groups/{group_id}", headers=headers)
    assert gone.status_code == 204  # the videos went with it; nothing marked their jobs
    async with runtime_of(client.app).sessions() as db:
        assert await prune_jobs(db, LATER) == 0  # a runner that claims one cancels it, then it goes
    assert [state for _, state in await jobs(client, running)] == ["running"]
    assert [state for _, state in await jobs(client, queued)] == ["queued"]


async def test_the_command_queues_what_it_is_asked_and_says_so(client: AppClient, quiet: Settings) -> None:
    """`huddle transcode` in its own process against the same database, as an operator runs it."""
    headers, [failed, done] = await videos(client, 2)
    await settle(client, failed, "failed")
    await settle(client, done, "done")
    env = {**os.environ, "DATABASE_URL": quiet.database_url, "SECRET_KEY": SECRET}

    async def huddle(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "app", "transcode", *args]
        return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True)

    refused = await huddle()
    assert refused.returncode == 2
    assert "one of the arguments --untranscoded --failed --all --video is required" in refused.stderr
    queued = await huddle("--failed")
    assert (queued.returncode, queued.stderr) == (0, "huddle: queued 1 transcode job(s)\n")
    assert await processing(client, headers, failed) == "queued"
    assert await processing(client, headers, done) == "done"
    chosen = await huddle("--video", str(failed), "--video", str(done), "--video", "999999999")
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stderr.splitlines() == [
        "huddle: queued 1 transcode job(s)",
        f"huddle: not queued (no such video, or its job is queued or running): [{failed}, 999999999]",
    ]
    assert await processing(client, headers, done) == "queued"


async def test_the_sweeper_prunes_replaced_jobs_an_hour_after_they_finished(
    make_client: Callable[[Settings], Awaitable[AppClient]], quiet: Settings
) -> None:
    client = await make_client(msgspec.structs.replace(quiet, upload_sweep_interval_seconds=0.05))
    _, [video] = await videos(client, 1)
    await settle(client, video, "failed")
    await again(client, "videos", [video])
    [(old, _), (new, _)] = await jobs(client, video)
    async with runtime_of(client.app).sessions() as db:
        two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
        await db.execute(update(VideoJob).where(VideoJob.id == old).values(updated_at=two_hours_ago))
        await db.commit()
    async with asyncio.timeout(30):
        while len(await jobs(client, video)) > 1:
            await asyncio.sleep(0.05)
    assert await jobs(client, video) == [(new, "queued")]
