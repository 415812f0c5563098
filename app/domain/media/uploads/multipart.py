"""`multipart/form-data` read incrementally from the request stream, so an upload never sits in memory.

python-multipart's push parser turns each received chunk into events (part headers, data slices,
part end); `MultipartReader` queues them and lets the caller pull: small fields as text, the file part
as an async stream of bytes that goes straight to the blob store. At most one received chunk's worth
of events is queued at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import NamedTuple

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from app.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

MAX_PARTS = 16
MAX_FIELD_BYTES = 1024
FORM_OVERHEAD = 64 * 1024  # part headers and small fields on top of the file itself
MALFORMED = "Malformed multipart body"


class Part(NamedTuple):
    name: str
    filename: str | None


class _Event(NamedTuple):
    kind: str  # "part", "data", "end", "done"
    data: bytes = b""
    part: Part | None = None


def _header_text(raw: bytes) -> str:
    # Browsers send UTF-8 file names as raw bytes in the header.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class MultipartReader:
    def __init__(self, chunks: AsyncIterator[bytes], content_type: str | None, max_body: int) -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise UnsupportedMediaType("Send the video as multipart/form-data with a `file` field")
        self._chunks = chunks
        self._max_body = max_body
        self._received = 0
        self._events: deque[_Event] = deque()
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = bytearray()
        self._value = bytearray()
        self._parts = 0
        self.finished = False
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._headers.clear,
                    "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
                    "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
                    "on_header_end": self._header_end,
                    "on_headers_finished": self._headers_finished,
                    "on_part_data": lambda data, start, end: self._events.append(
                        _Event("data", data[start:end])
                    ),
                    "on_part_end": lambda: self._events.append(_Event("end")),
                    "on_end": lambda: self._events.append(_Event("done")),
                },
            )
        except FormParserError:
            raise BadRequest(MALFORMED) from None

    # -- parser callbacks --------------------------------------------------------------------------

    def _header_end(self) -> None:
        self._headers.append((bytes(self._field).lower(), bytes(self._value)))
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition = next((value for name, value in self._headers if name == b"content-disposition"), b"")
        _, options = parse_options_header(disposition)  # bytes: values come back as sent
        name = options.get(b"name")
        filename = options.get(b"filename")
        part = Part(
            name=_header_text(name) if name is not None else "",
            filename=_header_text(filename) if filename is not None else None,
        )
        self._events.append(_Event("part", part=part))

    # -- pulling -----------------------------------------------------------------------------------

    async def _next_event(self) -> _Event:
        while not self._events:
            if self.finished:
                raise BadRequest(MALFORMED)
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                raise BadRequest(f"{MALFORMED}: it ended before the closing boundary") from None
            self._received += len(chunk)
            if self._received > self._max_body:
                raise PayloadTooLarge("The upload is larger than the server accepts")
            try:
                self._parser.write(chunk)
            except FormParserError:
                raise BadRequest(MALFORMED) from None
        event = self._events.popleft()
        if event.kind == "done":
            self.finished = True
        return event

    async def next_part(self) -> Part | None:
        """The next part's headers (skipping what is left of the current one); None at the end."""
        while True:
            event = await self._next_event()
            if event.kind == "done":
                return None
            if event.kind == "part" and event.part is not None:
                self._parts += 1
                if self._parts > MAX_PARTS:
                    raise BadRequest(f"At most {MAX_PARTS} form fields")
                return event.part

    async def data(self) -> AsyncIterator[bytes]:
        """The bytes of the current part, as they arrive, until its end."""
        while (event := await self._next_event()).kind == "data":
            yield event.data
        if event.kind != "end":
            raise BadRequest(MALFORMED)

    async def text(self) -> str:
        """The current part as a short text field."""
        value = bytearray()
        async for data in self.data():
            value += data
            if len(value) > MAX_FIELD_BYTES:
                raise BadRequest(f"Form fields other than the file hold at most {MAX_FIELD_BYTES} bytes")
        return _header_text(bytes(value))

    async def finish(self) -> None:
        """Read the rest of the body (later parts are ignored), insisting on a well-formed end."""
        while await self.next_part() is not None:
            async for _ in self.data():
                pass
