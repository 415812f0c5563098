"""The blob store contract, run against every adapter: local disk and Azure (Azurite)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from datetime import UTC, datetime, timedelta

import pytest

from app.blobstore import (
    MAX_BLOCKS,
    READ_CHUNK_LIMIT,
    BlobChanged,
    BlobNotFound,
    BlobStore,
    InvalidKey,
    MissingBlocks,
)

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


def new_key() -> str:
    return f"videos/{uuid.uuid4()}"


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


async def stream_of(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def read_all(store: BlobStore, key: str, start: int, end: int) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, start, end)])


async def test_round_trip(blob_store: BlobStore) -> None:
    key = new_key()
    data = random.Random(1).randbytes(300_000)
    info = await blob_store.put(key, chunked(data, 7_000), "video/mp4")
    assert info.size == len(data)
    assert info.etag.startswith('"')
    assert info.etag.endswith('"')
    assert info.content_type == "video/mp4"
    assert info.last_modified.tzinfo is not None
    assert abs(info.last_modified - datetime.now(UTC)) < timedelta(minutes=5)
    stat = await blob_store.stat(key)
    assert stat == info
    assert await read_all(blob_store, key, 0, len(data)) == data


async def test_put_replaces_and_changes_the_etag(blob_store: BlobStore) -> None:
    key = new_key()
    first = await blob_store.put(key, stream_of([b"one"]), "text/plain")
    second = await blob_store.put(key, stream_of([b"second", b" version"]), "application/octet-stream")
    assert second.etag != first.etag
    assert await blob_store.stat(key) == second
    assert await read_all(blob_store, key, 0, 100) == b"second version"


async def test_read_of_a_named_version(blob_store: BlobStore) -> None:
    key = new_key()
    old = await blob_store.put(key, stream_of([b"old version"]), "text/plain")
    assert b"".join([c async for c in blob_store.read(key, 0, 100, etag=old.etag)]) == b"old version"
    new = await blob_store.put(key, stream_of([b"new version!"]), "text/plain")
    with pytest.raises(BlobChanged):
        await anext(blob_store.read(key, 0, 100, etag=old.etag))
    assert b"".join([c async for c in blob_store.read(key, 4, 100, etag=new.etag)]) == b"version!"


async def test_empty_blob(blob_store: BlobStore) -> None:
    key = new_key()
    info = await blob_store.put(key, stream_of([]), "video/webm")
    assert info.size == 0
    assert await blob_store.stat(key) == info
    assert await read_all(blob_store, key, 0, 0) == b""
    assert await read_all(blob_store, key, 0, 10) == b""


async def test_staged_upload_out_of_order(blob_store: BlobStore) -> None:
    key = new_key()
    rng = random.Random(2)
    blocks = [rng.randbytes(rng.randint(1, 50_000)) for _ in range(12)]
    order = list(range(len(blocks)))
    rng.shuffle(order)
    for index in order:
        await blob_store.stage(key, index, blocks[index])
    await blob_store.stage(key, 3, blocks[3])  # a retried block replaces itself
    assert await blob_store.stat(key) is None  # nothing visible before the commit
    info = await blob_store.commit(key, len(blocks), "video/mp4")
    data = b"".join(blocks)
    assert info.size == len(data)
    assert info.content_type == "video/mp4"
    assert await blob_store.stat(key) == info
    assert await read_all(blob_store, key, 0, len(data)) == data


async def test_restaged_block_takes_the_new_bytes(blob_store: BlobStore) -> None:
    key = new_key()
    await blob_store.stage(key, 0, b"old-bytes")
    await blob_store.stage(key, 0, b"new")
    await blob_store.stage(key, 1, b"!")
    info = await blob_store.commit(key, 2, "text/plain")
    assert info.size == 4
    assert await read_all(blob_store, key, 0, 4) == b"new!"


async def test_commit_verifies_every_block(blob_store: BlobStore) -> None:
    key = new_key()
    for index in (0, 1, 3, 5):
        await blob_store.stage(key, index, bytes([index]) * 10)
    with pytest.raises(MissingBlocks) as caught:
        await blob_store.commit(key, 6, "video/mp4")
    assert caught.value.missing == [2, 4]
    assert await blob_store.stat(key) is None  # a failed commit writes nothing
    # The staged blocks survive a failed commit: the client can send the missing ones and retry.
    await blob_store.stage(key, 2, b"\x02" * 10)
    await blob_store.stage(key, 4, b"\x04" * 10)
    info = await blob_store.commit(key, 6, "video/mp4")
    assert await read_all(blob_store, key, 0, info.size) == b"".join(bytes([i]) * 10 for i in range(6))


async def test_commit_of_nothing_staged(blob_store: BlobStore) -> None:
    key = new_key()
    with pytest.raises(MissingBlocks) as caught:
        await blob_store.commit(key, 3, "video/mp4")
    assert caught.value.missing == [0, 1, 2]
    empty = await blob_store.commit(key, 0, "video/mp4")
    assert empty.size == 0


async def test_commit_drops_blocks_past_the_count(blob_store: BlobStore) -> None:
    key = new_key()
    for index in range(4):
        await blob_store.stage(key, index, bytes([65 + index]))
    info = await blob_store.commit(key, 2, "text/plain")
    assert info.size == 2
    assert await read_all(blob_store, key, 0, 10) == b"AB"
    with pytest.raises(MissingBlocks):  # the extra blocks went with the commit
        await blob_store.commit(key, 3, "text/plain")


async def test_discard_drops_staged_blocks_and_keeps_committed_blobs(blob_store: BlobStore) -> None:
    key = new_key()
    await blob_store.stage(key, 0, b"abc")
    await blob_store.discard(key)
    await blob_store.discard(key)  # idempotent
    with pytest.raises(MissingBlocks):
        await blob_store.commit(key, 1, "text/plain")
    assert await blob_store.stat(key) is None

    kept = new_key()
    info = await blob_store.put(kept, stream_of([b"keep me"]), "text/plain")
    await blob_store.discard(kept)
    assert await blob_store.stat(kept) == info
    assert await read_all(blob_store, kept, 0, 100) == b"keep me"


@pytest.mark.parametrize("content_type", ["", "text/html\r\nX-Injected: 1", "vidéo/mp4", "a" * 256])
async def test_unsafe_content_type_refused(blob_store: BlobStore, content_type: str) -> None:
    key = new_key()
    with pytest.raises(ValueError, match="content type"):
        await blob_store.put(key, stream_of([b"x"]), content_type)
    await blob_store.stage(key, 0, b"x")
    with pytest.raises(ValueError, match="content type"):
        await blob_store.commit(key, 1, content_type)
    assert await blob_store.stat(key) is None


@pytest.mark.parametrize("index", [-1, MAX_BLOCKS])
async def test_block_index_out_of_range(blob_store: BlobStore, index: int) -> None:
    with pytest.raises(ValueError, match="block index"):
        await blob_store.stage(new_key(), index, b"x")


async def test_empty_block_refused(blob_store: BlobStore) -> None:
    with pytest.raises(ValueError, match="at least one byte"):
        await blob_store.stage(new_key(), 0, b"")


async def test_random_ranges_are_byte_exact(blob_store: BlobStore) -> None:
    key = new_key()
    rng = random.Random(3)
    size = 700_000  # spans the adapters' first read window and a few more
    data = rng.randbytes(size)
    await blob_store.put(key, chunked(data, 65_536), "application/octet-stream")
    cases = [(0, 1), (size - 1, size), (0, size), (size, size), (5, 5), (size - 10, size + 1000)]
    for _ in range(60):
        start = rng.randrange(size)
        cases.append((start, rng.randint(start, size)))
    for start, end in cases:
        assert await read_all(blob_store, key, start, end) == data[start:end], (start, end)


async def test_read_past_the_end_is_clamped(blob_store: BlobStore) -> None:
    key = new_key()
    await blob_store.put(key, stream_of([b"0123456789"]), "text/plain")
    assert await read_all(blob_store, key, 8, 1_000_000) == b"89"
    assert await read_all(blob_store, key, 10, 20) == b""
    assert await read_all(blob_store, key, 50, 60) == b""


async def test_bad_ranges_refused(blob_store: BlobStore) -> None:
    key = new_key()
    await blob_store.put(key, stream_of([b"x"]), "text/plain")
    for start, end in [(-1, 1), (5, 4)]:
        with pytest.raises(ValueError, match="range"):
            await read_all(blob_store, key, start, end)


async def test_missing_blob(blob_store: BlobStore) -> None:
    key = new_key()
    assert await blob_store.stat(key) is None
    with pytest.raises(BlobNotFound):
        await read_all(blob_store, key, 0, 10)
    await blob_store.delete(key)  # deleting nothing is fine


async def test_delete_is_idempotent(blob_store: BlobStore) -> None:
    key = new_key()
    await blob_store.put(key, stream_of([b"bytes"]), "text/plain")
    await blob_store.delete(key)
    assert await blob_store.stat(key) is None
    with pytest.raises(BlobNotFound):
        await read_all(blob_store, key, 0, 5)
    await blob_store.delete(key)


async def test_folder_like_key_is_not_a_blob(blob_store: BlobStore) -> None:
    key = new_key()
    await blob_store.put(f"{key}/part", stream_of([b"x"]), "text/plain")
    assert await blob_store.stat(key) is None


BAD_KEYS = [
    "",
    "..",
    ".",
    "../etc/passwd",
    "videos/../../etc/passwd",
    "videos/..",
    "videos/./x",
    "/etc/passwd",
    "/videos/x",
    "videos//x",
    "videos/x/",
    "videos\\..\\x",
    "videos\\x",
    "C:/x",
    ".staging/x",
    "videos/.meta",
    "videos/x.",
    "videos/x\x00",
    "videos/x\n",
    "videos/ x",
    "vidéos/x",
    "videos/%2e%2e",
    "a" * 600,
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_traversal_and_odd_keys_refused(blob_store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        await blob_store.put(key, stream_of([b"x"]), "text/plain")
    with pytest.raises(InvalidKey):
        await blob_store.stage(key, 0, b"x")
    with pytest.raises(InvalidKey):
        await blob_store.commit(key, 0, "text/plain")
    with pytest.raises(InvalidKey):
        await blob_store.discard(key)
    with pytest.raises(InvalidKey):
        await blob_store.stat(key)
    with pytest.raises(InvalidKey):
        await read_all(blob_store, key, 0, 1)
    with pytest.raises(InvalidKey):
        await blob_store.delete(key)
    with pytest.raises(InvalidKey):
        blob_store.local_path(key)


async def test_large_blob_streams_in_bounded_chunks(blob_store: BlobStore) -> None:
    key = new_key()
    size = 20 * MiB + 12_345
    seed = random.Random(4).randbytes(MiB)

    def piece(index: int) -> bytes:
        return seed[index % 251 :] + seed[: index % 251]

    async def source() -> AsyncIterator[bytes]:
        sent = 0
        index = 0
        while sent < size:
            chunk = piece(index)[: min(MiB - 1, size - sent)]  # odd size: blocks never line up
            sent += len(chunk)
            index += 1
            yield chunk

    expected = b"".join([chunk async for chunk in source()])
    info = await blob_store.put(key, source(), "video/mp4")
    assert info.size == size
    got = bytearray()
    largest = 0
    chunks = 0
    async for chunk in blob_store.read(key, 0, size):
        largest = max(largest, len(chunk))
        chunks += 1
        got += chunk
    assert got == expected
    assert largest <= READ_CHUNK_LIMIT
    assert chunks >= 5  # streamed, not read in one piece

    # An early stop releases the reader (file handle or HTTP response).
    async with aclosing(blob_store.read(key, MiB, size)) as reader:
        first = await reader.__anext__()
    assert first == expected[MiB : MiB + len(first)]
    assert 0 < len(first) <= 256 * 1024  # a small first chunk: low time to first byte
