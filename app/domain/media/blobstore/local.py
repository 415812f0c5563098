"""Blob store on local disk (the embedded default): `<root>/<key>`, written by atomic rename.

Every file operation runs in a worker thread (anyio), never on the event loop. Layout under the root:
the blobs themselves at their keys, `.meta/<key>` with the content type, `.staging/<key>/<index>.part`
for uploads in progress and `.tmp/` for files being written; keys cannot reach the dotted folders.
Writes land in `.tmp/` (same file system) and are renamed into place, so a reader sees the old blob
or the new one, never half of one; open readers keep the file they opened.
"""

from __future__ import annotations

import os
import shutil
import stat as stat_mode
import tempfile
import uuid
from collections.abc import AsyncGenerator, AsyncIterable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import anyio
import anyio.to_thread
import msgspec

from app.domain.media.blobstore._port import (
    DEFAULT_CONTENT_TYPE,
    BlobChanged,
    BlobInfo,
    BlobNotFound,
    MissingBlocks,
    check_block,
    check_block_count,
    check_content_type,
    check_key,
    check_range,
)

WRITE_BUFFER = 1024 * 1024  # gather small request chunks into fewer thread hops
READ_FIRST = 64 * 1024
READ_LIMIT = 1024 * 1024
COPY_BUFFER = 1024 * 1024


class _Meta(msgspec.Struct):
    content_type: str


_meta_decoder = msgspec.json.Decoder(_Meta)


class LocalBlobStore:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root.absolute()
        self._fsync = fsync  # tests may turn it off; a server keeps it on so a crash loses no upload

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / ".meta" / check_key(key)

    def _staging(self, key: str) -> Path:
        return self.root / ".staging" / check_key(key)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    # -- writing -------------------------------------------------------------------------------------

    def _temp_file(self) -> tuple[BinaryIO, Path]:
        folder = self.root / ".tmp"
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix="put-")
        return os.fdopen(fd, "wb"), Path(name)

    def _finish(self, handle: BinaryIO) -> None:
        handle.flush()
        if self._fsync:
            os.fsync(handle.fileno())
        handle.close()

    def _publish(self, key: str, temp: Path, content_type: str) -> BlobInfo:
        """Move a finished temp file into place, metadata first (a blob is never without its type)."""
        meta = self._meta_path(key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta_temp = meta.with_name(f".{meta.name}.{uuid.uuid4().hex}")
        meta_temp.write_bytes(msgspec.json.encode(_Meta(content_type)))
        meta_temp.replace(meta)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.replace(path)
        return _info(path.stat(), content_type)

    async def put(self, key: str, chunks: AsyncIterable[bytes], content_type: str) -> BlobInfo:
        check_key(key)
        check_content_type(content_type)
        handle, temp = await anyio.to_thread.run_sync(self._temp_file)
        try:
            buffer = bytearray()
            async for chunk in chunks:
                buffer += chunk
                if len(buffer) >= WRITE_BUFFER:
                    await anyio.to_thread.run_sync(handle.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await anyio.to_thread.run_sync(handle.write, bytes(buffer))
            await anyio.to_thread.run_sync(self._finish, handle)
            return await anyio.to_thread.run_sync(self._publish, key, temp, content_type)
        finally:
            # Shielded: a cancelled upload must still remove its temp file.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close_and_remove, handle, temp)

    def _stage_sync(self, key: str, index: int, data: bytes) -> None:
        folder = self._staging(key)
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f"{index:06d}.part"
        temp = folder / f".{index:06d}.{uuid.uuid4().hex}"
        try:
            with temp.open("wb") as handle:
                handle.write(data)
            temp.replace(part)  # a half-written part is never taken for a staged block
        finally:
            temp.unlink(missing_ok=True)

    async def stage(self, key: str, index: int, data: bytes) -> None:
        check_key(key)
        check_block(index)
        if not data:
            raise ValueError("a block holds at least one byte")
        await anyio.to_thread.run_sync(self._stage_sync, key, index, data)

    def _commit_sync(self, key: str, block_count: int, content_type: str) -> BlobInfo:
        folder = self._staging(key)
        parts = [folder / f"{index:06d}.part" for index in range(block_count)]
        missing = [index for index, part in enumerate(parts) if not part.is_file()]
        if missing:
            raise MissingBlocks(key, missing)
        handle, temp = self._temp_file()
        try:
            for part in parts:
                with part.open("rb") as source:
                    shutil.copyfileobj(source, handle, COPY_BUFFER)
            self._finish(handle)
            info = self._publish(key, temp, content_type)
        finally:
            _close_and_remove(handle, temp)
        shutil.rmtree(folder, ignore_errors=True)
        return info

    async def commit(self, key: str, block_count: int, content_type: str) -> BlobInfo:
        check_key(key)
        check_block_count(block_count)
        check_content_type(content_type)
        return await anyio.to_thread.run_sync(self._commit_sync, key, block_count, content_type)

    async def discard(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(self._staging(key), ignore_errors=True))

    def _delete_sync(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)

    async def delete(self, key: str) -> None:
        check_key(key)
        await anyio.to_thread.run_sync(self._delete_sync, key)

    # -- reading -------------------------------------------------------------------------------------

    def _stat_sync(self, key: str) -> BlobInfo | None:
        try:
            result = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat_mode.S_ISREG(result.st_mode):
            return None  # `videos` when `videos/<id>` exists is a folder, not a blob
        try:
            content_type = _meta_decoder.decode(self._meta_path(key).read_bytes()).content_type
        except (FileNotFoundError, NotADirectoryError, msgspec.DecodeError):
            content_type = DEFAULT_CONTENT_TYPE
        return _info(result, content_type)

    async def stat(self, key: str) -> BlobInfo | None:
        check_key(key)
        return await anyio.to_thread.run_sync(self._stat_sync, key)

    async def read(
        self, key: str, start: int, end: int, *, etag: str | None = None
    ) -> AsyncGenerator[bytes, None]:
        path = self._path(key)
        check_range(start, end)
        if start == end:
            return
        # Opening, checking the version and reading the first window share one thread hop. A range of
        # up to READ_LIMIT (what players ask for) is that one window; a longer read starts small for a
        # quick first byte, then goes on in READ_LIMIT windows.
        length = end - start
        first = length if length <= READ_LIMIT else READ_FIRST
        fd, data = await anyio.to_thread.run_sync(_open_and_read, key, path, start, first, etag)
        try:
            offset = start
            while data:
                yield data
                offset += len(data)
                if offset >= end:
                    return
                data = await anyio.to_thread.run_sync(os.pread, fd, min(end - offset, READ_LIMIT), offset)
            # An empty read before `end`: the file is shorter (`end` past its end is clamped).
        finally:
            os.close(fd)

    async def close(self) -> None:
        return None


def _open_and_read(key: str, path: Path, start: int, length: int, etag: str | None) -> tuple[int, bytes]:
    """An open descriptor of the blob (the caller closes it) and its first `length` bytes from `start`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise BlobNotFound(key) from None
    try:
        # The open file is one version for good; check it is the one the caller promised.
        stale = etag is not None and _info(os.fstat(fd), DEFAULT_CONTENT_TYPE).etag != etag
        data = b"" if stale else os.pread(fd, length, start)
    except BaseException:
        os.close(fd)
        raise
    if stale:
        os.close(fd)
        raise BlobChanged(f"blob {key!r} is no longer {etag}")
    return fd, data


def _info(result: os.stat_result, content_type: str) -> BlobInfo:
    # Files are replaced by rename, never rewritten, so inode + mtime + size change with every version.
    etag = f'"{result.st_ino:x}-{result.st_mtime_ns:x}-{result.st_size:x}"'
    return BlobInfo(
        size=result.st_size,
        etag=etag,
        last_modified=datetime.fromtimestamp(result.st_mtime, UTC),
        content_type=content_type,
    )


def _close_and_remove(handle: BinaryIO, temp: Path) -> None:
    handle.close()
    temp.unlink(missing_ok=True)
