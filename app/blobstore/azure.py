"""Blob store on Azure Blob Storage (block blobs), through azure-storage-blob's async client.

One `BlobServiceClient` (one aiohttp connection pool) per process. Uploads are staged blocks committed
in one `Put Block List`, so a blob appears whole or not at all and a streamed upload holds one block in
memory. Reads are a series of ranged GETs, each one `download_blob(offset, length)` of at most
READ_CHUNK_LIMIT bytes: a small first one for a fast first byte, then larger ones; every GET after the
first (and the first too, when the caller names the version it expects) is conditional on the ETag, so
a blob replaced mid-read fails instead of mixing bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobSasPermissions,
    ContentSettings,
    UserDelegationKey,
    generate_blob_sas,
)
from azure.storage.blob.aio import BlobClient, BlobServiceClient, ExponentialRetry

from app.blobstore._port import (
    DEFAULT_CONTENT_TYPE,
    READ_CHUNK_LIMIT,
    BlobChanged,
    BlobInfo,
    BlobNotFound,
    MissingBlocks,
    check_block,
    check_block_count,
    check_content_type,
    check_key,
    check_range,
    read_windows,
)

BLOCK_SIZE = 4 * 1024 * 1024  # what `put` stages per block: the memory one upload holds
READ_FIRST = 256 * 1024
RANGE_NOT_SATISFIABLE = 416
SAS_CLOCK_SKEW = timedelta(minutes=5)  # a SAS starts this much in the past: the store's clock may lag
DELEGATION_KEY_LIFETIME = timedelta(hours=12)  # a user delegation key is asked for at most this often
DELEGATION_KEY_MARGIN = timedelta(hours=1)  # renewed when less than this is left


def _block_id(index: int) -> str:
    # Azure wants every block id of a blob to have the same length; 6 digits cover MAX_BLOCKS.
    return f"{index:06d}"


def _etag(value: str) -> str:
    return value if value.startswith('"') else f'"{value}"'


def _as_utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


class AzureBlobStore:
    def __init__(self, connection_string: str, container: str) -> None:
        self._service = BlobServiceClient.from_connection_string(
            connection_string,
            # `read` asks for at most READ_CHUNK_LIMIT per call; with both sizes at that limit the SDK
            # answers each call with exactly one GET and never splits or merges chunks on its own.
            max_single_get_size=READ_CHUNK_LIMIT,
            max_chunk_get_size=READ_CHUNK_LIMIT,
            max_block_size=BLOCK_SIZE,
            connection_timeout=5,
            read_timeout=60,
            # The SDK's default waits 15 s, 18 s and 24 s between retries: a request would hang for a
            # minute while storage is down. Two retries (after 1 s and 2 s), then the 503 that tells
            # clients to retry.
            retry_policy=ExponentialRetry(
                initial_backoff=1, increment_base=1, retry_total=2, random_jitter_range=0
            ),
        )
        self._container = self._service.get_container_client(container)
        self._container_ready = False
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_expiry = datetime.min.replace(tzinfo=UTC)

    def _blob(self, key: str) -> BlobClient:
        return self._container.get_blob_client(check_key(key))

    def local_path(self, key: str) -> Path | None:
        check_key(key)
        return None

    async def _ensure_container(self) -> None:
        # Once per process, on the first write: reads of a missing container just find no blob.
        if self._container_ready:
            return
        with contextlib.suppress(ResourceExistsError):
            await self._container.create_container()
        self._container_ready = True

    # -- writing -------------------------------------------------------------------------------------

    async def put(self, key: str, chunks: AsyncIterable[bytes], content_type: str) -> BlobInfo:
        blob = self._blob(key)
        check_content_type(content_type)
        await self._ensure_container()
        buffer = bytearray()
        count = size = 0
        async for chunk in chunks:
            buffer += chunk
            while len(buffer) >= BLOCK_SIZE:
                await blob.stage_block(_block_id(count), bytes(memoryview(buffer)[:BLOCK_SIZE]))
                del buffer[:BLOCK_SIZE]
                count, size = count + 1, size + BLOCK_SIZE
        if buffer:
            await blob.stage_block(_block_id(count), bytes(buffer))
            count, size = count + 1, size + len(buffer)
        return await self._commit(blob, count, size, content_type)

    async def stage(self, key: str, index: int, data: bytes) -> None:
        blob = self._blob(key)
        check_block(index)
        if not data:
            raise ValueError("a block holds at least one byte")
        await self._ensure_container()
        await blob.stage_block(_block_id(index), data)

    async def commit(self, key: str, block_count: int, content_type: str) -> BlobInfo:
        blob = self._blob(key)
        check_block_count(block_count)
        check_content_type(content_type)
        await self._ensure_container()
        try:
            _, uncommitted = await blob.get_block_list("uncommitted")
        except ResourceNotFoundError:
            uncommitted = []
        sizes = {block.id: int(block.size) for block in uncommitted}
        missing = [index for index in range(block_count) if _block_id(index) not in sizes]
        if missing:
            raise MissingBlocks(key, missing)
        size = sum(sizes[_block_id(index)] for index in range(block_count))
        return await self._commit(blob, block_count, size, content_type)

    async def _commit(self, blob: BlobClient, count: int, size: int, content_type: str) -> BlobInfo:
        result: dict[str, Any] = await blob.commit_block_list(
            [BlobBlock(block_id=_block_id(index)) for index in range(count)],
            content_settings=ContentSettings(content_type=content_type),
        )
        return BlobInfo(
            size=size,
            etag=_etag(str(result["etag"])),
            last_modified=_as_utc(result.get("last_modified")),
            content_type=content_type,
        )

    async def discard(self, key: str) -> None:
        blob = self._blob(key)
        # Azure has no call to drop uncommitted blocks; committing an empty list does, when no blob
        # exists yet (the If-None-Match guard keeps a committed blob). Otherwise they expire in a week.
        try:
            await blob.commit_block_list([], match_condition=MatchConditions.IfMissing)
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return
        await self._delete(blob)

    async def delete(self, key: str) -> None:
        await self._delete(self._blob(key))

    async def _delete(self, blob: BlobClient) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            await blob.delete_blob(delete_snapshots="include")

    # -- reading -------------------------------------------------------------------------------------

    async def stat(self, key: str) -> BlobInfo | None:
        blob = self._blob(key)
        try:
            properties = await blob.get_blob_properties()
        except ResourceNotFoundError:
            return None
        return BlobInfo(
            size=int(properties.size),
            etag=_etag(str(properties.etag)),
            last_modified=_as_utc(properties.last_modified),
            content_type=properties.content_settings.content_type or DEFAULT_CONTENT_TYPE,
        )

    async def read(
        self, key: str, start: int, end: int, *, etag: str | None = None
    ) -> AsyncGenerator[bytes, None]:
        blob = self._blob(key)
        check_range(start, end)
        for offset, length in read_windows(start, end, READ_FIRST, READ_CHUNK_LIMIT):
            conditions: dict[str, Any] = {}
            if etag is not None:
                conditions = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
            try:
                download = await blob.download_blob(offset, length, max_concurrency=1, **conditions)
                data = await download.readall()
            except ResourceNotFoundError:
                raise BlobNotFound(key) from None
            except ResourceModifiedError:
                raise BlobChanged(f"blob {key!r} changed while it was read") from None
            except HttpResponseError as error:
                if error.status_code == RANGE_NOT_SATISFIABLE:
                    return  # `offset` at or past the end: clamped
                raise
            etag = _etag(str(download.properties.etag))
            if data:
                yield data
            if len(data) < length:
                return

    # -- handing reads to the browser -----------------------------------------------------------------

    @property
    def can_sign(self) -> bool:
        """Whether `read_url` can sign: an account key, or a token credential (user delegation SAS)."""
        credential = self._service.credential
        return bool(getattr(credential, "account_key", None)) or hasattr(credential, "get_token")

    async def read_url(
        self,
        key: str,
        *,
        lifetime: timedelta,
        content_type: str,
        content_disposition: str | None = None,
        cache_control: str | None = None,
    ) -> str:
        """A URL that reads this one blob (and nothing else: no list, write or delete) until `lifetime`
        has passed, answering with the given response headers (the SAS overrides them): a user
        delegation SAS when the client signs in with a token credential, else a service SAS signed
        with the account key."""
        blob = self._blob(key)
        now = datetime.now(UTC)
        sas_options: dict[str, Any] = {
            "account_name": blob.account_name,
            "container_name": blob.container_name,
            "blob_name": blob.blob_name,
            "permission": BlobSasPermissions(read=True),
            "start": now - SAS_CLOCK_SKEW,
            "expiry": now + lifetime,
            "content_type": content_type,
            "content_disposition": content_disposition,
            "cache_control": cache_control,
        }
        if blob.url.startswith("https://"):
            sas_options["protocol"] = "https"
        account_key = getattr(self._service.credential, "account_key", None)
        if account_key:
            sas = generate_blob_sas(account_key=account_key, **sas_options)
        else:
            sas = generate_blob_sas(user_delegation_key=await self._user_delegation_key(now), **sas_options)
        return f"{blob.url}?{sas}"

    async def _user_delegation_key(self, now: datetime) -> UserDelegationKey:
        # One key signs every SAS for hours: asking Entra ID per request would cost a round trip each.
        if self._delegation_key is None or self._delegation_expiry - now < DELEGATION_KEY_MARGIN:
            expiry = now + DELEGATION_KEY_LIFETIME
            self._delegation_key = await self._service.get_user_delegation_key(now - SAS_CLOCK_SKEW, expiry)
            self._delegation_expiry = expiry
        return self._delegation_key

    async def close(self) -> None:
        await self._service.close()
