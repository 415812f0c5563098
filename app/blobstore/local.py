"""Blob store on local disk (the embedded default): `<root>/<key>`, written by atomic rename.

Every file operation that may wait for the disk runs in a worker thread (anyio), never on the event
loop. Reads are the exception that proves it: a player asks range after range of one file, so the
store keeps the blob open for a few seconds (`OpenFiles`, like nginx's `open_file_cache`) and reads
what the page cache already holds straight from the loop (`preadv` with `RWF_NOWAIT`, which never
waits for the disk), going to a thread only for bytes that must come from the disk. Layout under the root:
the blobs themselves at their keys, `.meta/<key>` with the content type, `.staging/<key>/<index>.part`
for uploads in progress and `.tmp/` for files being written; keys cannot reach the dotted folders.
Writes land in `.tmp/` (same file system) and are renamed into place, so a reader sees the old blob
or the new one, never half of one; open readers keep the file they opened.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat as stat_mode
import tempfile
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import anyio
import anyio.to_thread
import msgspec

from app.blobstore._port import (
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
# mkstemp's 0600 would keep the nginx that serves the folder read-only (STREAM_OFFLOAD=nginx, another
# user) out; who may enter the folder is the deployment's to say (compose mounts it in two services).
BLOB_MODE = 0o644
OPEN_FILE_SECONDS = 2.0  # how long an open blob and its info are trusted before they are looked up again
OPEN_FILES_LIMIT = 256
# Linux 4.14+; elsewhere (or when the file system refuses it) every read takes the thread.
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)


class _Meta(msgspec.Struct):
    content_type: str


_meta_decoder = msgspec.json.Decoder(_Meta)


class OpenFiles:
    """Blobs opened in the last OPEN_FILE_SECONDS: key -> (descriptor, info, when opened).

    Blobs are replaced by rename, never rewritten, so an open descriptor is one version for good and
    its info stays true; after the few seconds a lookup sees a replaced or deleted blob. A reader takes
    its own `dup` of the descriptor, so dropping an entry never pulls a file from under a read.
    """

    def __init__(self) -> None:
        self._files: dict[str, tuple[int, BlobInfo, float]] = {}

    def get(self, key: str) -> tuple[int, BlobInfo] | None:
        entry = self._files.get(key)
        if entry is None:
            return None
        fd, info, opened = entry
        if time.monotonic() - opened > OPEN_FILE_SECONDS:
            self.drop(key)
            return None
        return fd, info

    def put(self, key: str, fd: int, info: BlobInfo) -> None:
        if len(self._files) >= OPEN_FILES_LIMIT:
            self.clear()
        self.drop(key)
        self._files[key] = (fd, info, time.monotonic())
        # Closed when it expires even if nobody asks again: a deleted blob's disk space is freed
        # only once the last descriptor is closed.
        asyncio.get_running_loop().call_later(OPEN_FILE_SECONDS, self._expire, key, fd)

    def _expire(self, key: str, fd: int) -> None:
        entry = self._files.get(key)
        if entry is not None and entry[0] == fd:
            self.drop(key)

    def drop(self, key: str) -> None:
        entry = self._files.pop(key, None)
        if entry is not None:
            os.close(entry[0])

    def clear(self) -> None:
        for key in list(self._files):
            self.drop(key)


class LocalBlobStore:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root.absolute()
        self._fsync = fsync  # tests may turn it off; a server keeps it on so a crash loses no upload
        self._open = OpenFiles()

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
        os.fchmod(fd, BLOB_MODE)
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
        _differ_from(path, temp)
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
            info = await anyio.to_thread.run_sync(self._publish, key, temp, content_type)
            self._open.drop(key)  # this worker reads the new version at once; others within seconds
            return info
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
        info = await anyio.to_thread.run_sync(self._commit_sync, key, block_count, content_type)
        self._open.drop(key)
        return info

    async def discard(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(self._staging(key), ignore_errors=True))

    def _delete_sync(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)

    async def delete(self, key: str) -> None:
        check_key(key)
        self._open.drop(key)
        await anyio.to_thread.run_sync(self._delete_sync, key)

    # -- reading -------------------------------------------------------------------------------------

    async def stat(self, key: str) -> BlobInfo | None:
        check_key(key)
        cached = self._open.get(key)
        return cached[1] if cached is not None else await self._reopen(key)

    async def _reopen(self, key: str) -> BlobInfo | None:
        """Open the blob afresh and keep it open; its info, or None when there is no blob at `key`."""
        opened = await anyio.to_thread.run_sync(self._open_sync, key)
        if opened is None:
            return None
        self._open.put(key, *opened)
        return opened[1]

    def _open_sync(self, key: str) -> tuple[int, BlobInfo] | None:
        """An open descriptor of the blob and its info; None when there is no blob at `key`."""
        try:
            fd = os.open(self._path(key), os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        try:
            result = os.fstat(fd)
            if not stat_mode.S_ISREG(result.st_mode):
                os.close(fd)
                return None  # `videos` when `videos/<id>` exists is a folder, not a blob
            return fd, _info(result, self._content_type(key))
        except BaseException:
            os.close(fd)
            raise

    def _content_type(self, key: str) -> str:
        try:
            return _meta_decoder.decode(self._meta_path(key).read_bytes()).content_type
        except (FileNotFoundError, NotADirectoryError, msgspec.DecodeError):
            return DEFAULT_CONTENT_TYPE

    async def read(
        self, key: str, start: int, end: int, *, etag: str | None = None
    ) -> AsyncGenerator[bytes, None]:
        check_range(start, end)
        if start == end:
            return
        fd = self._reader(key, etag)
        if fd is None:
            if await self._reopen(key) is None:
                raise BlobNotFound(key)
            fd = self._reader(key, etag)
            if fd is None:
                raise BlobChanged(f"blob {key!r} is no longer {etag}")
        try:
            offset = start
            # A range of up to READ_LIMIT (what players ask for) is one read; a longer one starts
            # small, for a quick first byte when it has to come from the disk.
            window = READ_LIMIT if end - start <= READ_LIMIT else READ_FIRST
            while offset < end:
                length = min(end - offset, window)
                data: bytes | bytearray | None = _read_cached(fd, length, offset)
                if data is None:
                    data = await anyio.to_thread.run_sync(os.pread, fd, length, offset)
                if not data:
                    return  # the file is shorter: `end` past its end is clamped
                yield data  # type: ignore[misc]  # a bytearray from the page cache: sent as is, no copy
                offset += len(data)
                window = READ_LIMIT
        finally:
            os.close(fd)

    def _reader(self, key: str, etag: str | None) -> int | None:
        """A descriptor of the open blob for one read (the reader closes it), when it is the version
        the caller's headers describe."""
        cached = self._open.get(key)
        if cached is None or (etag is not None and cached[1].etag != etag):
            return None
        return os.dup(cached[0])

    async def close(self) -> None:
        self._open.clear()


def _read_cached(fd: int, length: int, offset: int) -> bytearray | None:
    """What the page cache holds of `length` bytes from `offset`, read without waiting for the disk;
    None when the first byte is not there (or the system cannot read without waiting)."""
    if not _NOWAIT:
        return None
    buffer = bytearray(length)
    try:
        got = os.preadv(fd, [buffer], offset, _NOWAIT)
    except OSError:  # EAGAIN: not cached; EOPNOTSUPP: not on this file system
        return None
    if got <= 0:
        return None
    del buffer[got:]
    return buffer


def _differ_from(path: Path, temp: Path) -> None:
    """Give `temp`, about to replace `path`, a later mtime second when it would otherwise share the old
    version's ETag (same second, same size): every version of a key gets a validator of its own."""
    try:
        old = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return
    new = temp.stat()
    if int(new.st_mtime) == int(old.st_mtime) and new.st_size == old.st_size:
        os.utime(temp, ns=(new.st_atime_ns, (int(old.st_mtime) + 1) * 1_000_000_000))


def _info(result: os.stat_result, content_type: str) -> BlobInfo:
    # nginx's own ETag format ("<mtime seconds, hex>-<size, hex>"), so a file nginx serves for us
    # (STREAM_OFFLOAD=nginx) carries the validator Huddle sends: a client's If-Range and
    # If-None-Match hold on either path. Files are replaced by rename, never rewritten, and
    # `_differ_from` makes the mtime or the size change with every version.
    etag = f'"{int(result.st_mtime):x}-{result.st_size:x}"'
    return BlobInfo(
        size=result.st_size,
        etag=etag,
        last_modified=datetime.fromtimestamp(result.st_mtime, UTC),
        content_type=content_type,
    )


def _close_and_remove(handle: BinaryIO, temp: Path) -> None:
    handle.close()
    temp.unlink(missing_ok=True)
