"""`ranged_response` mounted on a tiny Litestar app, over local disk and Azure (Azurite), and the same
requests on the two offloaded paths (STREAM_OFFLOAD): nginx from deploy/nginx/huddle.conf in front of
the app on Granian (`X-Accel-Redirect`), and Azure redirects (a 307 to a SAS URL, followed to Azurite).
The semantic tests take the `blob` fixture and run on all four; the offloaded paths must answer
exactly as Huddle does (app/streaming/offload.py hands over only what nginx and Azure answer alike).

Bodies are checked byte for byte; multipart bodies are split by hand so their framing is checked too.
Raw ASGI calls check what httpx cannot show: pathsend, chunk sizes, a client that goes away.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from litestar import Litestar, Request, Response, route
from litestar.params import FromPath

from app.blobstore import READ_CHUNK_LIMIT, BlobInfo, BlobStore, LocalBlobStore
from app.blobstore.azure import AzureBlobStore
from app.errors import NotFound
from app.server.errors import exception_handlers
from app.streaming.conditions import http_date
from app.streaming.offload import AzureRedirect, Offload
from app.streaming.response import PATHSEND, ranged_response, stored_response
from tests.nginx import Balancer, run_nginx
from tests.process import ROOT, Server, free_port
from tests.services import RUN_ID

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
SIZE = 100_000
CONTENT_TYPE = "video/mp4"


def make_app(store: BlobStore, offload: Offload | None = None) -> Litestar:
    @route("/blobs/{key:path}", http_method=["GET", "HEAD"])
    async def serve_blob(request: Request[Any, Any, Any], key: FromPath[str]) -> Response[bytes]:
        key = key.lstrip("/")
        name = request.query_params.get("name")
        if "type" not in request.query_params:
            return await stored_response(
                request, store, key, missing="No such blob", filename=name, offload=offload
            )
        info = await store.stat(key)
        if info is None:
            raise NotFound("No such blob")
        # What a store written by other code might hold.
        info = msgspec.structs.replace(info, content_type=request.query_params["type"])
        return ranged_response(request, store, key, info, filename=name)

    return Litestar([serve_blob], exception_handlers=exception_handlers)


@dataclass
class Served:
    """One stored blob, the app serving it and a client for that app (on the nginx path, a client of
    the nginx in front of the app, and `app` is None: it runs on Granian)."""

    store: BlobStore
    app: Litestar | None
    client: httpx.AsyncClient
    key: str
    data: bytes
    info: BlobInfo
    route: str = "direct"

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


# -- the offloaded paths ------------------------------------------------------------------------------

ROUTES = ["local", "azure", "nginx", "azure-redirect"]
SAS_LIFETIME = timedelta(minutes=5)


@dataclass
class Offloaded:
    """The blob app on Granian (handing bytes over with X-Accel-Redirect) behind the shipped nginx."""

    root: Path
    app: Server
    nginx: Balancer


@pytest.fixture(scope="module")
def nginx_offload(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Offloaded]:
    """One Granian app and one nginx for the module (each test stores its own blob)."""
    workdir = tmp_path_factory.mktemp("offload")
    root = workdir / "media"
    root.mkdir()
    port = free_port()
    log = workdir / "granian.log"
    command = [
        *(sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1"),
        *("--port", str(port), "--workers", "1", "tests.e2e.blob_app:app"),
    ]
    env = os.environ | {"HUDDLE_TEST_BLOB_ROOT": str(root), "HUDDLE_TEST_OFFLOAD_PREFIX": "/_protected/"}
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
    app = Server(process, port, log)
    try:
        app.wait_healthy()
        with run_nginx(workdir / "nginx", [port], media_dir=root) as nginx:
            yield Offloaded(root, app, nginx)
    finally:
        app.stop()


async def serve_offloaded(route: str, request: pytest.FixtureRequest, data: bytes) -> AsyncIterator[Served]:
    key = f"videos/{uuid.uuid4()}"
    if route == "nginx":
        offloaded: Offloaded = request.getfixturevalue("nginx_offload")
        store: BlobStore = LocalBlobStore(offloaded.root, fsync=False)
        info = await store.put(key, _once(data), CONTENT_TYPE)
        async with httpx.AsyncClient(base_url=offloaded.nginx.url) as client:
            yield Served(store, None, client, key, data, info, route)
        await store.close()
        return
    azure = AzureBlobStore(request.getfixturevalue("azurite_connection_string"), f"huddle-test-{RUN_ID}")
    try:
        info = await azure.put(key, _once(data), CONTENT_TYPE)
        app = make_app(azure, AzureRedirect(azure, SAS_LIFETIME))
        # Huddle in process; the redirect's target (Azurite) over the network, as a browser follows it.
        mounts = {"http://testserver": httpx.ASGITransport(app=app)}
        async with httpx.AsyncClient(
            base_url="http://testserver", mounts=mounts, follow_redirects=True
        ) as client:
            yield Served(azure, app, client, key, data, info, route)
    finally:
        await azure.close()


@pytest.fixture(params=ROUTES)
async def blob(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Served]:
    data = random.Random(10).randbytes(SIZE)
    route = str(request.param)
    if route in ("nginx", "azure-redirect"):
        async for served in serve_offloaded(route, request, data):
            yield served
        return
    store: BlobStore
    if route == "azure":
        store = AzureBlobStore(request.getfixturevalue("azurite_connection_string"), f"huddle-test-{RUN_ID}")
    else:
        store = LocalBlobStore(tmp_path / "media", fsync=False)
    try:
        async for served in serve(store, data):
            yield served
    finally:
        await store.close()


@pytest.fixture
async def direct_blob(blob_store: BlobStore) -> AsyncIterator[Served]:
    async for served in serve(blob_store, random.Random(10).randbytes(SIZE)):
        yield served


def assert_common_headers(response: httpx.Response, info: BlobInfo, route: str = "direct") -> None:
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == info.etag
    assert response.headers["last-modified"] == http_date(info.last_modified)
    if response.history:  # Azure's answer: a SAS URL cannot add headers (docs/security.md)
        assert route == "azure-redirect"
        assert "x-content-type-options" not in response.headers
    else:
        assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "private, max-age=3600"


async def test_full_body(blob: Served) -> None:
    response = await blob.get()
    assert response.status_code == 200
    assert response.content == blob.data
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["content-type"] == CONTENT_TYPE
    assert "content-range" not in response.headers
    assert_common_headers(response, blob.info, blob.route)


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
    assert_common_headers(response, blob.info, blob.route)


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
    assert_common_headers(response, blob.info, blob.route)
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


async def test_whole_file_uses_pathsend_on_local_disk(direct_blob: Served) -> None:
    blob = direct_blob
    assert blob.app is not None
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


# -- the hand-over itself ---------------------------------------------------------------------------------


async def test_nginx_gets_plain_requests_and_huddle_keeps_the_rest(nginx_offload: Offloaded) -> None:
    data = random.Random(14).randbytes(SIZE)
    store = LocalBlobStore(nginx_offload.root, fsync=False)
    key = f"videos/{uuid.uuid4()}"
    info = await store.put(key, _once(data), CONTENT_TYPE)
    name = {"name": 'clip "ünï".mp4'}
    async with httpx.AsyncClient(base_url=nginx_offload.app.url) as app:
        handed = await app.get(f"/blobs/{key}", params=name, headers={"range": "bytes=10-"})
        assert (handed.status_code, handed.content) == (200, b"")
        assert handed.headers["x-accel-redirect"] == f"/_protected/{key}"
        kept = await app.get(f"/blobs/{key}", headers={"range": "bytes=-10"})  # a suffix: Huddle's
        assert "x-accel-redirect" not in kept.headers
        assert kept.content == data[-10:]
        for headers in ({"if-none-match": info.etag}, {"range": f"bytes={SIZE}-"}):
            assert "x-accel-redirect" not in (await app.get(f"/blobs/{key}", headers=headers)).headers
        assert "x-accel-redirect" not in (await app.head(f"/blobs/{key}")).headers
    async with httpx.AsyncClient(base_url=nginx_offload.nginx.url) as client:
        response = await client.get(f"/blobs/{key}", params=name, headers={"range": "bytes=10-"})
        assert response.status_code == 206
        assert response.content == data[10:]
        assert "x-accel-redirect" not in response.headers
        assert response.headers["content-disposition"] == handed.headers["content-disposition"]
        assert response.headers["content-security-policy"] == "sandbox"
        # The internal location answers nobody but the app.
        assert (await client.get(f"/_protected/{key}")).status_code == 404


async def test_azure_redirect_is_short_lived_uncached_and_read_only(azurite_connection_string: str) -> None:
    store = AzureBlobStore(azurite_connection_string, f"huddle-test-{RUN_ID}")
    try:
        data = random.Random(15).randbytes(1000)
        key, other = f"videos/{uuid.uuid4()}", f"videos/{uuid.uuid4()}"
        await store.put(key, _once(data), CONTENT_TYPE)
        await store.put(other, _once(b"another video"), CONTENT_TYPE)
        app = make_app(store, AzureRedirect(store, SAS_LIFETIME))
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as huddle,
            httpx.AsyncClient() as browser,
        ):
            redirect = await huddle.get(
                f"/blobs/{key}", params={"name": "a.mp4"}, headers={"range": "bytes=0-"}
            )
            assert redirect.status_code == 307
            assert redirect.headers["cache-control"] == "no-store"  # no cache keeps a URL that expires
            url = redirect.headers["location"]
            query = dict(item.split("=", 1) for item in url.split("?", 1)[1].split("&"))
            assert (query["sp"], query["sr"]) == ("r", "b")  # read, this one blob
            assert (await huddle.get(f"/blobs/{key}", headers={"range": "bytes=-5"})).status_code == 206
            assert (await browser.get(url)).content == data
            # Altered: another blob, more rights, a forged signature; a write: all refused by the store.
            assert (await browser.get(url.replace(key, other))).status_code == 403
            assert (await browser.get(url.replace("sp=r", "sp=rw"))).status_code == 403
            assert (await browser.get(url.replace("sig=", "sig=A"))).status_code == 403
            put = await browser.put(url, content=b"x", headers={"x-ms-blob-type": "BlockBlob"})
            assert put.status_code == 403
            assert (await browser.delete(url)).status_code == 403
            expired = await store.read_url(key, lifetime=timedelta(seconds=-1), content_type=CONTENT_TYPE)
            assert (await browser.get(expired)).status_code == 403
    finally:
        await store.close()
