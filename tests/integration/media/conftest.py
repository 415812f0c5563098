"""Blob stores for the media tests: every test runs on local disk and on Azure (Azurite)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.blobstore import BlobStore, LocalBlobStore
from app.blobstore.azure import AzureBlobStore
from app.config import Settings
from tests.azurite import azurite
from tests.services import RUN_ID

BACKENDS = ["local", "azure"]


@pytest.fixture(scope="session")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with azurite(tmp_path_factory.mktemp("azurite")) as connection:
        yield connection


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def blob_store(
    store_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[BlobStore]:
    """A fresh store per test (the Azure client binds to the test's event loop)."""
    store: BlobStore
    if store_backend == "azure":
        connection = request.getfixturevalue("azurite_connection_string")
        store = AzureBlobStore(connection, f"huddle-test-{RUN_ID}")
    else:
        store = LocalBlobStore(tmp_path / "media", fsync=False)
    try:
        yield store
    finally:
        await store.close()


# -- the video API ---------------------------------------------------------------------------------
# API tests in this folder run twice: SQLite with local disk (the embedded mode) and PostgreSQL + Redis
# with Azure (Azurite), so each database and each blob store is covered without the full product.

STACKS = {"sqlite-local": ("sqlite", "local"), "postgres-azure": ("postgres", "azure")}
_containers = itertools.count()


@pytest.fixture(params=list(STACKS))
def stack(request: pytest.FixtureRequest) -> tuple[str, str]:
    return STACKS[str(request.param)]


@pytest.fixture
def backend(stack: tuple[str, str]) -> str:
    return stack[0]


@pytest.fixture
def media_store(stack: tuple[str, str]) -> str:
    return stack[1]


@pytest.fixture
def media_settings(
    make_settings: Callable[..., Settings], media_store: str, request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    """Settings for the stack's blob store (a fresh Azure container per app), small limits for tests."""

    def build(**overrides: Any) -> Settings:
        base: dict[str, Any] = {"upload_chunk_min_bytes": 1024, "upload_sweep_interval_seconds": 3600.0}
        if media_store == "azure":
            base["azure_storage_connection_string"] = request.getfixturevalue("azurite_connection_string")
            base["azure_container_name"] = f"huddle-api-{RUN_ID}-{next(_containers)}"
        return make_settings(**(base | overrides))

    return build


@pytest.fixture
def settings(media_settings: Callable[..., Settings]) -> Settings:
    return media_settings()
