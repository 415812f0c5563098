"""The local store keeps blobs open for a few seconds (nginx's open_file_cache) and reads what the page
cache holds from the loop: every read is still byte-exact, a read survives its entry being dropped, and
a blob replaced behind the store's back is seen once the entry is no longer trusted."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import anyio
import pytest

from app.blobstore import in_one_chunk, local
from app.blobstore.local import LocalBlobStore
from tests.integration.media.test_blobstore_contract import new_key, read_all, stream_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "media", fsync=False)


async def test_reads_are_byte_exact_whether_or_not_the_page_cache_holds_the_bytes(
    store: LocalBlobStore,
) -> None:
    data = random.Random(5).randbytes(3 * local.READ_LIMIT + 123)
    key = new_key()
    await store.put(key, stream_of([data]), "video/mp4")
    assert await read_all(store, key, 0, len(data)) == data
    path = store.root / key
    fd = os.open(path, os.O_RDONLY)
    try:  # ask the kernel to drop the file's pages: the next reads go to the thread
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    rng = random.Random(6)
    for _ in range(20):
        start = rng.randrange(len(data))
        end = rng.randrange(start, len(data) + 1)
        assert await read_all(store, key, start, end) == data[start:end]


async def test_a_read_survives_its_entry_being_dropped(store: LocalBlobStore) -> None:
    data = random.Random(7).randbytes(2 * local.READ_LIMIT)
    key = new_key()
    await store.put(key, stream_of([data]), "video/mp4")
    reader = store.read(key, 0, len(data))
    first = await anext(reader)
    await store.close()  # closes every cached descriptor; the reader holds its own
    rest = b"".join([bytes(chunk) async for chunk in reader])
    assert bytes(first) + rest == data


async def test_a_blob_replaced_behind_the_stores_back_is_seen_after_the_trusted_seconds(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    monkeypatch.setattr(local.time, "monotonic", lambda: now[0])
    key = new_key()
    old = await store.put(key, stream_of([b"old version"]), "text/plain")
    assert await store.stat(key) == old
    # Another worker's store replaces it (by rename, like every write).
    other = LocalBlobStore(store.root, fsync=False)
    new = await other.put(key, stream_of([b"new version!"]), "text/plain")
    assert await store.stat(key) == old  # still trusted: the open file is the old version
    assert await read_all(store, key, 0, 100) == b"old version"
    now[0] += local.OPEN_FILE_SECONDS + 0.1
    assert await store.stat(key) == new
    assert await read_all(store, key, 0, 100) == b"new version!"


async def test_a_deleted_blob_is_gone_for_the_store_that_deleted_it(store: LocalBlobStore) -> None:
    key = new_key()
    await store.put(key, stream_of([b"bytes"]), "text/plain")
    assert await store.stat(key) is not None
    await store.delete(key)
    assert await store.stat(key) is None


def _open_descriptors_of(path: Path) -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))


async def test_an_open_blob_is_closed_when_it_expires_even_if_nobody_asks_again(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "OPEN_FILE_SECONDS", 0.05)
    key = new_key()
    await store.put(key, stream_of([b"bytes"]), "text/plain")
    await store.stat(key)
    assert _open_descriptors_of(store.root / key) == 1
    await anyio.sleep(0.2)
    assert _open_descriptors_of(store.root / key) == 0  # a deleted blob's space would be freed


async def test_blobs_are_readable_by_a_server_sharing_the_folder_and_each_version_has_its_etag(
    store: LocalBlobStore,
) -> None:
    """nginx serves the folder as another user (STREAM_OFFLOAD=nginx) and sends its own ETag
    (`"<mtime>-<size>"`, hex): a replacement written in the same second with the same size must not
    share the old version's."""
    first = await store.put("videos/v", in_one_chunk(b"a" * 10), "video/mp4")
    path = store.local_path("videos/v")
    assert path is not None
    assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044
    result = path.stat()
    assert first.etag == f'"{int(result.st_mtime):x}-{result.st_size:x}"'
    second = await store.put("videos/v", in_one_chunk(b"b" * 10), "video/mp4")
    assert second.etag != first.etag
    assert (await store.stat("videos/v")) == second
