"""Blob stores for the media tests: every test runs on local disk and on Azure (Azurite)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.domain.media.blobstore import BlobStore, LocalBlobStore
from app.domain.media.blobstore.azure import AzureBlobStore
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
