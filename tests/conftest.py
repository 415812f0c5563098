"""Fixtures: the app on SQLite (embedded mode), on PostgreSQL + Redis (production mode) and, for the
real-time, presence, rate-limit and ticket tests, on PostgreSQL + a Redis Cluster (REDIS_CLUSTER=1,
sharded pub/sub): a module opts in with `pytestmark = [..., WITH_REDIS_CLUSTER]`."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from app.config import Settings
from app.db import migrate
from app.server.app import create_app
from tests.redis_cluster import LocalCluster, local_cluster
from tests.secantus import secantus
from tests.services import RUN_ID, postgres_database, redis_namespace

SECRET = "test-secret-key-that-is-long-enough-0123456789"
_app_counter = itertools.count()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def redis_env() -> Iterator[tuple[str, str]]:
    with redis_namespace() as env:
        yield env


@pytest.fixture(scope="session")
def mongodb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB-protocol server for the session: `MONGODB_URL` when set (a real mongod), else a
    SecantusDB started here (tests/secantus.py). Each user takes a database of its own."""
    configured = os.environ.get("MONGODB_URL")
    if configured:
        yield configured
        return
    with secantus(tmp_path_factory.mktemp("secantus")) as server:
        yield server.url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One local Redis Cluster (3 masters + 3 replicas) for the session's shared-cluster tests; a test
    that kills nodes starts its own with `local_cluster`."""
    with local_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_cluster_env(redis_cluster: LocalCluster) -> tuple[str, str]:
    return redis_cluster.url, f"huddle-test:{RUN_ID}:"


# The third infrastructure variant, for the modules that opt in: overrides the `backend` fixture.
WITH_REDIS_CLUSTER = pytest.mark.parametrize("backend", ["sqlite", "postgres", "redis-cluster"])


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'huddle.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def own_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A migrated database for this test alone, for what acts on every row: a transcode runner
    claims any queued job, `huddle transcode` queues any video."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"
        migrate.upgrade(url)
        yield url
        return
    with postgres_database() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def unmigrated(postgres_url: str) -> Iterator[str]:
    """An empty PostgreSQL database, as an operator who forgot `make migrate` gives the app."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def make_settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for the current backend; each app gets its own Redis key prefix. The databases are
    shared by the session's tests, so no transcode runner polls them: a test that wants one asks
    for it, on `own_database`."""

    def build(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "secret_key": SECRET,
            "bcrypt_rounds": 4,
            "var_dir": tmp_path / "var",
            "media_dir": tmp_path / "media",
            "login_rate_limit": 1000,
            "search_rate_limit": 1000,
            "transcode_concurrency": 0,
        }
        if backend in ("postgres", "redis-cluster"):
            cluster = backend == "redis-cluster"
            redis_url, prefix = request.getfixturevalue("redis_cluster_env" if cluster else "redis_env")
            base |= {
                "database_url": request.getfixturevalue("postgres_url"),
                "redis_url": redis_url,
                "redis_cluster": cluster,
                "redis_key_prefix": f"{prefix}{next(_app_counter)}:",
            }
        else:
            base["database_url"] = request.getfixturevalue("sqlite_url")
        return Settings(**(base | overrides))

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


class AppClient(httpx.AsyncClient):
    app: Litestar


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[[Settings], Any]]:
    """Start apps (lifespan included) in the test's event loop; all are shut down at the end."""
    stack: list[tuple[Litestar, Any, AppClient]] = []

    async def start(settings: Settings) -> AppClient:
        app = create_app(settings)
        lifespan = app.lifespan()
        await lifespan.__aenter__()
        client = AppClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        client.app = app
        stack.append((app, lifespan, client))
        return client

    yield start
    for _, lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def client(make_client: Callable[[Settings], Any], settings: Settings) -> AppClient:
    result: AppClient = await make_client(settings)
    return result


def decode(response: httpx.Response) -> Any:
    return msgspec.json.decode(response.content)
