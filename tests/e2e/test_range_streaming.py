"""Range streaming through the real server (Granian): pathsend for whole files, streamed ranges."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.blobstore import LocalBlobStore
from app.streaming.response import PATHSEND
from tests.process import Server, free_port

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
KEY = "videos/e2e-clip"


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), MiB):
        yield data[offset : offset + MiB]


@pytest.fixture
def granian_blob_server(tmp_path: Path) -> Iterator[tuple[Server, bytes]]:
    data = random.Random(20).randbytes(6 * MiB + 7)
    root = tmp_path / "blobs"
    asyncio.run(LocalBlobStore(root, fsync=False).put(KEY, _chunks(data), "video/mp4"))
    port = free_port()
    log = tmp_path / "granian.log"
    command = [
        *(sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1"),
        *("--port", str(port), "--workers", "1", "tests.e2e.blob_app:app"),
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            env=os.environ | {"HUDDLE_TEST_BLOB_ROOT": str(root)},
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
    server = Server(process, port, log)
    try:
        server.wait_healthy()
        yield server, data
    finally:
        server.stop()


def test_granian_serves_whole_files_by_pathsend_and_ranges_by_streaming(
    granian_blob_server: tuple[Server, bytes],
) -> None:
    server, data = granian_blob_server
    url = f"{server.url}/blobs/{KEY}"
    assert PATHSEND in httpx.get(f"{server.url}/extensions").json()

    whole = httpx.get(url)
    assert whole.status_code == 200
    assert whole.headers["content-length"] == str(len(data))
    assert whole.content == data

    head = httpx.head(url)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(data))
    assert head.content == b""

    ranged = httpx.get(url, headers={"range": "bytes=1000-4999999"})
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes 1000-4999999/{len(data)}"
    assert ranged.content == data[1000:5_000_000]

    multi = httpx.get(url, headers={"range": "bytes=0-9,-10"})
    assert multi.status_code == 206
    assert multi.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert int(multi.headers["content-length"]) == len(multi.content)
    assert data[:10] in multi.content
    assert data[-10:] in multi.content

    unsatisfiable = httpx.get(url, headers={"range": f"bytes={len(data)}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{len(data)}"

    cached = httpx.get(url, headers={"if-none-match": whole.headers["etag"]})
    assert cached.status_code == 304
    assert cached.content == b""

    # A client that leaves mid-body does not take the worker down.
    with httpx.stream("GET", url, headers={"range": "bytes=0-"}) as partial:
        next(partial.iter_bytes())
    assert httpx.get(url, headers={"range": "bytes=0-3"}).content == data[:4]
    assert server.process.poll() is None, server.output()
