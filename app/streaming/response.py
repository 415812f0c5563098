"""A blob as an HTTP response, with Range, conditional requests and HEAD (RFC 9110), over any blob store.

`ranged_response(request, store, key, info)` decides everything up front (status, headers, exact
Content-Length) from the request headers and the blob's `BlobInfo`; the body is sent later, straight
from the store in bounded chunks, never a whole range in memory. A whole file on local disk goes out
through the ASGI `http.response.pathsend` extension when the server offers it (Granian does), so the
server sends the file itself without the bytes passing through Python.

Video endpoints and file attachments share it; authorize before calling it (no byte leaves before).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import quote

import anyio
from litestar import Request, Response
from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.datastructures import Cookie
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

from app.blobstore import DEFAULT_CONTENT_TYPE, BlobChanged, BlobInfo, BlobStore
from app.errors import NotFound, RangeNotSatisfiable
from app.streaming.conditions import http_date, if_range_allows, not_modified
from app.streaming.offload import HANDED_OVER, Offload, offloadable
from app.streaming.ranges import ByteRange, select_ranges

log = logging.getLogger("huddle.streaming")
PATHSEND = "http.response.pathsend"
# A body this small is a read or two: sent without a task watching for the client leaving, which only
# pays off when it stops a long read early (and costs a task and a task group per request).
UNWATCHED_BODY = 1024 * 1024
DEFAULT_MAX_AGE = 3600  # blobs live under fresh keys, never rewritten; `private`: no shared caches
_PRINTABLE = frozenset(map(chr, range(0x20, 0x7F)))

Segment = bytes | ByteRange  # literal bytes (multipart framing) or a range read from the store


def ranged_response(
    request: Request[Any, Any, Any],
    store: BlobStore,
    key: str,
    info: BlobInfo,
    *,
    filename: str | None = None,
    disposition: Literal["inline", "attachment"] = "inline",
    max_age: int = DEFAULT_MAX_AGE,
) -> BlobResponse:
    """The response for a GET or HEAD of blob `key`, whose current info is `info`.

    200 whole, 206 one range (`Content-Range`) or several (`multipart/byteranges`), 304 when
    `If-None-Match` / `If-Modified-Since` say the client's copy is current. Raises RangeNotSatisfiable
    (416, `Content-Range: bytes */size`) when no requested range exists. Range is honoured on GET only
    (RFC 9110 section 14.2) and only when `If-Range`, if sent, names this exact representation.
    """
    headers = request.headers
    head = request.method == "HEAD"
    content_type = _safe_content_type(info.content_type)
    common = _common_headers(info, filename, disposition, max_age)

    if_none_match, if_modified_since = headers.get("if-none-match"), headers.get("if-modified-since")
    if not_modified(if_none_match, if_modified_since, info.etag, info.last_modified):
        return BlobResponse(store, key, info.etag, status_code=304, headers=common, segments=(), head=True)

    ranges: tuple[ByteRange, ...] | None = None
    if not head and if_range_allows(headers.get("if-range"), info.etag, info.last_modified):
        ranges = select_ranges(headers.get("range"), info.size)

    if ranges is None:
        return BlobResponse(
            store,
            key,
            info.etag,
            status_code=200,
            headers={**common, "content-type": content_type, "content-length": str(info.size)},
            segments=(ByteRange(0, info.size),) if info.size else (),
            head=head,
            path=store.local_path(key),
        )
    if not ranges:
        raise RangeNotSatisfiable(
            "None of the requested ranges is within the file",
            headers={"content-range": f"bytes */{info.size}", "accept-ranges": "bytes"},
        )
    if len(ranges) == 1:
        (only,) = ranges
        return BlobResponse(
            store,
            key,
            info.etag,
            status_code=206,
            headers={
                **common,
                "content-type": content_type,
                "content-range": only.content_range(info.size),
                "content-length": str(only.length),
            },
            segments=ranges,
            head=head,
        )
    boundary = secrets.token_hex(16)
    segments = multipart_segments(ranges, info.size, content_type, boundary)
    return BlobResponse(
        store,
        key,
        info.etag,
        status_code=206,
        headers={
            **common,
            "content-type": f"multipart/byteranges; boundary={boundary}",
            "content-length": str(body_length(segments)),
        },
        segments=segments,
        head=head,
    )


async def stored_response(
    request: Request[Any, Any, Any],
    store: BlobStore,
    key: str,
    *,
    missing: str,
    filename: str | None = None,
    disposition: Literal["inline", "attachment"] = "inline",
    offload: Offload | None = None,
) -> Response[bytes]:
    """`ranged_response` for the blob's current version. A catalog row whose blob is gone is a 404
    saying `missing`, and logged: the row and the store disagree. With `offload`, the requests nginx
    or Azure answer exactly as Huddle would are handed to them (app/streaming/offload.py)."""
    info = await store.stat(key)
    if info is None:
        log.error("%s: no blob at %s", missing, key)
        raise NotFound(missing)
    if offload is not None and offloadable(request, info):  # a 200 or a 206 with these headers
        representation = {
            "content-type": _safe_content_type(info.content_type),
            **_common_headers(info, filename, disposition, DEFAULT_MAX_AGE),
        }
        handed = {name: representation[name] for name in HANDED_OVER if name in representation}
        return await offload.respond(key, info, handed)
    return ranged_response(request, store, key, info, filename=filename, disposition=disposition)


def _common_headers(info: BlobInfo, filename: str | None, disposition: str, max_age: int) -> dict[str, str]:
    """What every answer about this version of the blob carries, whatever the range."""
    common = {
        "accept-ranges": "bytes",
        "etag": info.etag,
        "last-modified": http_date(info.last_modified),
        "cache-control": f"private, max-age={max_age}",
        "x-content-type-options": "nosniff",
        # Defence in depth: an uploaded HTML or SVG file opened directly runs no script on our origin.
        "content-security-policy": "sandbox",
    }
    if filename is not None:
        common["content-disposition"] = content_disposition(disposition, filename)
    return common


def multipart_segments(
    ranges: Iterable[ByteRange], size: int, content_type: str, boundary: str
) -> tuple[Segment, ...]:
    """The body of a `multipart/byteranges` response: each part's headers, its bytes, the closing line."""
    segments: list[Segment] = []
    for index, byte_range in enumerate(ranges):
        lead = "" if index == 0 else "\r\n"  # the CRLF before a delimiter belongs to the delimiter
        part = (
            f"{lead}--{boundary}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Range: {byte_range.content_range(size)}\r\n\r\n"
        )
        segments += [part.encode("ascii"), byte_range]
    segments.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return tuple(segments)


def body_length(segments: Iterable[Segment]) -> int:
    return sum(len(s) if isinstance(s, bytes) else s.length for s in segments)


def content_disposition(disposition: str, filename: str) -> str:
    """`inline; filename="ascii fallback"; filename*=UTF-8''percent-encoded` (RFC 6266, RFC 8187)."""
    fallback = "".join(c if c in _PRINTABLE and c not in '"\\/' else "_" for c in filename) or "file"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _safe_content_type(value: str) -> str:
    # It is repeated inside multipart bodies, where no server would catch a stray CR or LF.
    return value if value and set(value) <= _PRINTABLE else DEFAULT_CONTENT_TYPE


class BlobResponse(Response[bytes]):
    """A planned blob response; Litestar turns it into `ASGIBlobResponse`, which sends the bytes."""

    def __init__(
        self,
        store: BlobStore,
        key: str,
        etag: str,
        *,
        status_code: int,
        headers: Mapping[str, str],
        segments: tuple[Segment, ...],
        head: bool,
        path: Path | None = None,
    ) -> None:
        super().__init__(b"", status_code=status_code, headers=dict(headers))
        self.store = store
        self.key = key
        self.etag = etag  # reads insist on this version: the headers describe it
        self.segments = segments
        self.head = head
        self.path = path
        self.body_length = body_length(segments)

    def to_asgi_response(
        self,
        app: Any,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        headers: dict[str, str] | None = None,
        **_: Any,
    ) -> ASGIResponse:
        del app, request
        return ASGIBlobResponse(
            self,
            headers={**(headers or {}), **self.headers},
            cookies=[*self.cookies, *(cookies or ())],
            background=self.background or background,
        )


class ASGIBlobResponse(ASGIResponse):
    _should_set_content_length = False  # always set by `ranged_response`, and right for HEAD too

    def __init__(
        self,
        plan: BlobResponse,
        *,
        headers: dict[str, str],
        cookies: Iterable[Cookie],
        background: BackgroundTask | BackgroundTasks | None,
    ) -> None:
        super().__init__(
            headers=headers,
            cookies=cookies,
            background=background,
            status_code=plan.status_code,
            is_head_response=plan.head,
            media_type=headers.get("content-type", DEFAULT_CONTENT_TYPE),
        )
        self.plan = plan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.start_response(send)
        plan = self.plan
        if plan.head or not plan.segments:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif plan.path is not None and PATHSEND in (scope.get("extensions") or {}):
            # Litestar's Send type predates the pathsend extension; the event is plain ASGI.
            raw_send = cast("Callable[[dict[str, Any]], Awaitable[None]]", send)
            await raw_send({"type": PATHSEND, "path": str(plan.path)})
        elif plan.body_length <= UNWATCHED_BODY:
            await self._send_chunks(send)
        else:
            await self._stream_until_disconnect(send, receive)
        await self.after_response()

    async def _send_chunks(self, send: Send) -> None:
        async with aclosing(self._chunks()) as chunks:
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _stream_until_disconnect(self, send: Send, receive: Receive) -> None:
        # Some servers accept sends after the client left; stop reading the store when it does.
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch)
            await self._send_chunks(send)
            group.cancel_scope.cancel()

    async def _chunks(self) -> AsyncGenerator[bytes, None]:
        plan = self.plan
        for segment in plan.segments:
            if isinstance(segment, bytes):
                yield segment
                continue
            sent = 0
            async with aclosing(
                plan.store.read(plan.key, segment.start, segment.end, etag=plan.etag)
            ) as reader:
                async for chunk in reader:
                    sent += len(chunk)
                    yield chunk
            if sent != segment.length:
                # Content-Length is already out: aborting beats a silently short body.
                raise BlobChanged(f"blob {plan.key!r} ended at {segment.start + sent}, not {segment.end}")
