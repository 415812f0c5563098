"""`ranged_response` mounted on a tiny Litestar app, over local disk and Azure (Azurite).

Bodies are checked byte for byte; multipart bodies are split by hand so their framing is checked too.
Raw ASGI calls check what httpx cannot show: pathsend, chunk sizes, a client that goes away.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from litestar import Litestar, Request, Response, route
from litestar.params import FromPath

from app.blobstore import READ_CHUNK_LIMIT, BlobInfo, BlobStore, LocalBlobStore
from app.errors import NotFound
from app.server.errors import exception_handlers
from app.streaming.conditions import http_date
from app.streaming.response import PATHSEND, ranged_response

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
SIZE = 100_000
CONTENT_TYPE = "video/mp4"


def make_app(store: BlobStore) -> Litestar:
    @route("/blobs/{key:path}", http_method=["GET", "HEAD"])
    async def serve_blob(request: Request[Any, Any, Any], key: FromPath[str]) -> Response[bytes]:
        key = key.lstrip("/")
        info = await store.stat(key)
        if info is None:
            raise NotFound("No such blob")
        if "type" in request.query_params:  # what a store written by other code might hold
            info = msgspec.structs.replace(info, content_type=request.query_params["type"])
        return ranged_response(request, store, key, info, filename=request.query_params.get("name"))

    return Litestar([serve_blob], exception_handlers=exception_handlers)


@dataclass
class Served:
    """One stored blob, the app serving it and a client for that app."""

    store: BlobStore
    app: Litestar
    client: httpx.AsyncClient
    key: str
    data: bytes
    info: BlobInfo

    @property
    def path(self) -> str:
        return f"/blobs/{self.key}"

    async def get(self, **headers: str) -> httpx.Response:
        return await self.client.get(self.path, headers=_headers(headers))

    async def head(self, **headers: str) -> httpx.Response:
        return await self.client.head(self.path, headers=_headers(headers))


def _headers(headers: dict[str, str]) -> dict[str, str]:
    return {name.replace("_", "-"): value for name, value in headers.items()}


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def serve(store: BlobStore, data: bytes, content_type: str = CONTENT_TYPE) -> AsyncIterator[Served]:
    key = f"videos/{uuid.uuid4()}"
    info = await store.put(key, _once(data), content_type)
    app = make_app(store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield Served(store, app, client, key, data, info)


@pytest.fixture
async def blob(blob_store: BlobStore) -> AsyncIterator[Served]:
    async for served in serve(blob_store, random.Random(10).randbytes(SIZE)):
        yield served


def assert_common_headers(response: httpx.Response, info: BlobInfo) -> None:
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == info.etag
    assert response.headers["last-modified"] == http_date(info.last_modified)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "private, max-age=3600"


async def test_full_body(blob: Served) -> None:
    response = await blob.get()
    assert response.status_code == 200
    assert response.content == blob.data
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["content-type"] == CONTENT_TYPE
    assert "content-range" not in response.headers
    assert_common_headers(response, blob.info)


async def test_head_has_the_headers_and_no_body(blob: Served) -> None:
    get = await blob.get()
    head = await blob.head()
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-length", "content-type", "etag", "last-modified", "accept-ranges", "cache-control"):
        assert head.headers[name] == get.headers[name]
    # Range is defined for GET only (RFC 9110 section 14.2): HEAD ignores it.
    ranged_head = await blob.head(range="bytes=0-9")
    assert ranged_head.status_code == 200
    assert ranged_head.headers["content-length"] == str(SIZE)
    assert ranged_head.content == b""


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=100-199", 100, 200),
        ("bytes=-500", SIZE - 500, SIZE),
        ("bytes=99000-", 99_000, SIZE),
        ("bytes=0-", 0, SIZE),
        ("bytes=-999999", 0, SIZE),
        ("bytes=99990-99999999999999999999999", 99_990, SIZE),
        ("bytes=0-9,10-19", 0, 20),  # adjacent ranges merge into one part
    ],
)
async def test_single_range(blob: Served, header: str, start: int, end: int) -> None:
    response = await blob.get(range=header)
    assert response.status_code == 206
    assert response.content == blob.data[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert response.headers["content-length"] == str(end - start)
    assert response.headers["content-type"] == CONTENT_TYPE
    assert_common_headers(response, blob.info)


def parse_multipart(response: httpx.Response) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart/byteranges body strictly: delimiters, part headers, the closing line."""
    match = re.fullmatch(
        r"multipart/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]+)", response.headers["content-type"]
    )
    assert match, response.headers["content-type"]
    delimiter = b"--" + match.group(1).encode()
    body = response.content
    assert body.startswith(delimiter + b"\r\n")
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n")
    parts = body[: -len(b"\r\n" + delimiter + b"--\r\n")].split(b"\r\n" + delimiter + b"\r\n")
    parts[0] = parts[0].removeprefix(delimiter + b"\r\n")
    parsed = []
    for part in parts:
        head, separator, data = part.partition(b"\r\n\r\n")
        assert separator
        headers = dict(line.decode().split(": ", 1) for line in head.split(b"\r\n"))
        parsed.append(({k.lower(): v for k, v in headers.items()}, data))
    return parsed


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9,20-29", [(0, 10), (20, 30)]),
        ("bytes=-100,0-99,500-599", [(0, 100), (500, 600), (SIZE - 100, SIZE)]),
        ("bytes=50-149,100-199,1000-", [(50, 200), (1000, SIZE)]),
        ("bytes=1-1,3-3,5-5,7-7", [(1, 2), (3, 4), (5, 6), (7, 8)]),
    ],
)
async def test_multiple_ranges(blob: Served, header: str, expected: list[tuple[int, int]]) -> None:
    response = await blob.get(range=header)
    assert response.status_code == 206
    assert "content-range" not in response.headers
    assert response.headers["content-length"] == str(len(response.content))
    assert_common_headers(response, blob.info)
    parts = parse_multipart(response)
    assert len(parts) == len(expected)
    for (headers, data), (start, end) in zip(parts, expected, strict=True):
        assert headers == {"content-type": CONTENT_TYPE, "content-range": f"bytes {start}-{end - 1}/{SIZE}"}
        assert data == blob.data[start:end]


async def test_many_random_ranges_are_byte_exact(blob: Served) -> None:
    rng = random.Random(11)
    for _ in range(25):
        start = rng.randrange(SIZE)
        end = rng.randint(start, SIZE - 1)
        response = await blob.get(range=f"bytes={start}-{end}")
        assert response.status_code == 206
        assert response.content == blob.data[start : end + 1]


async def test_too_many_ranges_get_the_whole_file(blob: Served) -> None:
    header = "bytes=" + ",".join(f"{i * 10}-{i * 10}" for i in range(17))
    response = await blob.get(range=header)
    assert response.status_code == 200
    assert response.content == blob.data
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(200))
    assert (await blob.get(range=header)).status_code == 200


@pytest.mark.parametrize("header", ["bytes=500-100", "bytes=", "items=0-1", "bytes=x-y", "bytes=0-1,oops"])
async def test_malformed_range_is_ignored(blob: Served, header: str) -> None:
    response = await blob.get(range=header)
    assert response.status_code == 200
    assert response.content == blob.data


@pytest.mark.parametrize(
    "header", [f"bytes={SIZE}-", f"bytes={SIZE}-{SIZE + 10}", "bytes=-0", "bytes=" + "9" * 25 + "-"]
)
async def test_unsatisfiable(blob: Served, header: str) -> None:
    response = await blob.get(range=header)
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.json()["code"] == "range_not_satisfiable"


async def test_if_range(blob: Served) -> None:
    matching = await blob.get(range="bytes=0-9", if_range=blob.info.etag)
    assert matching.status_code == 206
    assert matching.content == blob.data[:10]
    by_date = await blob.get(range="bytes=0-9", if_range=http_date(blob.info.last_modified))
    assert by_date.status_code == 206
    for stale in ['"stale"', f"W/{blob.info.etag}", "Mon, 01 Jan 2001 00:00:00 GMT", "garbage"]:
        response = await blob.get(range="bytes=0-9", if_range=stale)
        assert response.status_code == 200, stale
        assert response.content == blob.data


async def test_if_none_match(blob: Served) -> None:
    for header in [blob.info.etag, f'"x", W/{blob.info.etag}', "*"]:
        response = await blob.get(if_none_match=header, range="bytes=0-9")
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == blob.info.etag
        assert response.headers["cache-control"] == "private, max-age=3600"
        assert response.headers["last-modified"] == http_date(blob.info.last_modified)
    head = await blob.head(if_none_match=blob.info.etag)
    assert head.status_code == 304
    changed = await blob.get(if_none_match='"something-else"')
    assert changed.status_code == 200
    assert changed.content == blob.data


async def test_if_modified_since(blob: Served) -> None:
    assert (await blob.get(if_modified_since=http_date(blob.info.last_modified))).status_code == 304
    earlier = await blob.get(if_modified_since="Mon, 01 Jan 2001 00:00:00 GMT")
    assert earlier.status_code == 200
    assert earlier.content == blob.data


async def test_filename_and_content_type(blob_store: BlobStore) -> None:
    async for served in serve(blob_store, b"<html><script>alert(1)</script>", "text/html"):
        response = await served.client.get(
            served.path, params={"name": 'clip "ünï".mp4', "type": "text/html\r\nX-Injected: 1"}
        )
        assert response.status_code == 200
        # A content type that could break the multipart framing is replaced, never echoed.
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"] == (
            "inline; filename=\"clip __n__.mp4\"; filename*=UTF-8''clip%20%22%C3%BCn%C3%AF%22.mp4"
        )
        assert response.headers["content-security-policy"] == "sandbox"
        multi = await served.client.get(
            served.path, params={"type": "video/mp4\r\n\r\nforged"}, headers={"range": "bytes=0-1,5-6"}
        )
        assert [headers["content-type"] for headers, _ in parse_multipart(multi)] == [
            "application/octet-stream"
        ] * 2
        attachment = await served.client.get(served.path)
        assert attachment.headers["content-type"] == "text/html"
        assert "content-disposition" not in attachment.headers


async def test_empty_blob(blob_store: BlobStore) -> None:
    async for served in serve(blob_store, b""):
        response = await served.get()
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["content-length"] == "0"
        unsatisfiable = await served.get(range="bytes=0-")
        assert unsatisfiable.status_code == 416
        assert unsatisfiable.headers["content-range"] == "bytes */0"


async def test_missing_blob_is_a_json_404(blob_store: BlobStore) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(blob_store)), base_url="http://testserver"
    ) as client:
        response = await client.get("/blobs/videos/nothing-here")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# -- raw ASGI: what the server actually receives ----------------------------------------------------


async def call(
    app: Litestar,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    extensions: dict[str, Any] | None = None,
    disconnect: bool = False,
) -> list[dict[str, Any]]:
    """One GET through the ASGI interface; returns every message the app sent."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "extensions": extensions or {},
        "state": {},
    }
    messages: list[dict[str, Any]] = []
    finished = anyio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if not disconnect:
            await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == PATHSEND or not message.get(
            "more_body", message["type"] != "http.response.body"
        ):
            finished.set()
        await anyio.sleep(0)  # let the disconnect watcher run, as a real server would

    await app(scope, receive, send)  # type: ignore[arg-type]
    return messages


def body_of(messages: list[dict[str, Any]]) -> bytes:
    return b"".join(m["body"] for m in messages if m["type"] == "http.response.body")


async def test_whole_file_uses_pathsend_on_local_disk(blob: Served) -> None:
    extensions: dict[str, Any] = {PATHSEND: {}}
    messages = await call(blob.app, blob.path, extensions=extensions)
    assert messages[0]["type"] == "http.response.start"
    assert messages[0]["status"] == 200
    if isinstance(blob.store, LocalBlobStore):
        assert messages[1:] == [{"type": PATHSEND, "path": str(blob.store.local_path(blob.key))}]
        assert Path(messages[1]["path"]).read_bytes() == blob.data
    else:
        assert body_of(messages) == blob.data
    # Ranges and servers without the extension always stream.
    ranged = await call(blob.app, blob.path, {"range": "bytes=5-9"}, extensions=extensions)
    assert [m["type"] for m in ranged[1:]] == ["http.response.body"] * (len(ranged) - 1)
    assert body_of(ranged) == blob.data[5:10]
    plain = await call(blob.app, blob.path)
    assert all(m["type"] != PATHSEND for m in plain)
    assert body_of(plain) == blob.data


async def test_large_ranges_stream_in_bounded_chunks(blob_store: BlobStore) -> None:
    data = random.Random(12).randbytes(9 * MiB)
    async for served in serve(blob_store, data):
        messages = await call(served.app, served.path, {"range": "bytes=1-,0-0"})  # coalesces to everything
        bodies = [m for m in messages if m["type"] == "http.response.body"]
        assert len(bodies) > 4
        assert max(len(m["body"]) for m in bodies) <= READ_CHUNK_LIMIT
        assert 0 < len(bodies[0]["body"]) <= 256 * 1024  # the first bytes go out early
        assert body_of(messages) == data
        assert bodies[-1] == {"type": "http.response.body", "body": b"", "more_body": False}

        multi = await call(served.app, served.path, {"range": f"bytes=0-{3 * MiB},{5 * MiB}-"})
        assert max(len(m["body"]) for m in multi if m["type"] == "http.response.body") <= READ_CHUNK_LIMIT
        headers = dict(multi[0]["headers"])
        assert int(headers[b"content-length"]) == len(body_of(multi))


async def test_client_gone_stops_the_stream(blob_store: BlobStore) -> None:
    data = random.Random(13).randbytes(12 * MiB)
    async for served in serve(blob_store, data):
        messages = await call(served.app, served.path, disconnect=True)
        assert messages[0]["type"] == "http.response.start"
        assert len(body_of(messages)) < len(data)
        assert not any(m.get("more_body") is False for m in messages[1:])
