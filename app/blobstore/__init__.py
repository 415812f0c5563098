"""Blob store port: a small Protocol with one adapter per backend, chosen once per process.

Local disk (`MEDIA_DIR`, the embedded default) or Azure Blob Storage (`AZURE_STORAGE_CONNECTION_STRING`,
`AZURE_CONTAINER_NAME`). Both pass the same contract suite (tests/integration/media).
"""

from __future__ import annotations

from app.blobstore._port import (
    DEFAULT_CONTENT_TYPE,
    READ_CHUNK_LIMIT,
    BlobChanged,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    InvalidKey,
    MissingBlocks,
    check_key,
    in_one_chunk,
)
from app.blobstore.local import LocalBlobStore
from app.config import MAX_BLOCKS, Settings

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "MAX_BLOCKS",
    "READ_CHUNK_LIMIT",
    "BlobChanged",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobStoreError",
    "InvalidKey",
    "LocalBlobStore",
    "MissingBlocks",
    "check_key",
    "create_blob_store",
    "in_one_chunk",
]


def create_blob_store(settings: Settings) -> BlobStore:
    """Azure when a connection string is configured, else the local media folder. One per process."""
    if settings.azure_storage_connection_string:
        # Imported here so the embedded mode never loads the Azure SDK and its HTTP stack.
        from app.blobstore.azure import AzureBlobStore  # noqa: PLC0415

        return AzureBlobStore(settings.azure_storage_connection_string, settings.azure_container_name)
    return LocalBlobStore(settings.media_dir)
