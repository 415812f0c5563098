"""OpenAPI request bodies of the upload routes, which read the raw stream themselves (no `data`
parameter for Litestar to describe), so generated SDKs still know what to send."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)

_FILE = Schema(
    type=OpenAPIType.STRING,
    format=OpenAPIFormat.BINARY,
    description="The video (MP4, MOV, WebM, MKV, OGG, AVI)",
)
_GROUP_ID = Schema(
    type=OpenAPIType.INTEGER,
    description="The group (or use the group_id query parameter); a form field must come before the file",
)


# Named components (added to the document by app.server.openapi_document), so SDKs name the forms.
FORMS = {
    "VideoUploadForm": Schema(
        type=OpenAPIType.OBJECT, title="VideoUploadForm", properties={"file": _FILE}, required=["file"]
    ),
    "SeedVideoUploadForm": Schema(
        type=OpenAPIType.OBJECT,
        title="SeedVideoUploadForm",
        properties={"file": _FILE, "group_id": _GROUP_ID},
        required=["file"],
    ),
}


def _multipart(form: str) -> RequestBody:
    schema = Reference(ref=f"#/components/schemas/{form}")
    return RequestBody(content={"multipart/form-data": OpenAPIMediaType(schema=schema)}, required=True)


@dataclass
class GroupUploadOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = _multipart("VideoUploadForm")


@dataclass
class FormUploadOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = _multipart("SeedVideoUploadForm")


@dataclass
class ChunkOperation(Operation):
    def __post_init__(self) -> None:
        schema = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        self.request_body = RequestBody(
            content={"application/octet-stream": OpenAPIMediaType(schema=schema)},
            required=True,
            description="Exactly chunk_size bytes (the last chunk: the rest of the file)",
        )


_SUBTITLE_FILE = Schema(
    type=OpenAPIType.STRING,
    format=OpenAPIFormat.BINARY,
    description="WebVTT or SRT, UTF-8 (judged by content; SRT is converted to WebVTT)",
)
_SUBTITLE_FIELD = Schema(
    type=OpenAPIType.STRING,
    description="As the query parameter of the same name; a form field must come before the file",
)


FORMS["SubtitleUploadForm"] = Schema(
    type=OpenAPIType.OBJECT,
    title="SubtitleUploadForm",
    properties={
        "file": _SUBTITLE_FILE,
        "label": _SUBTITLE_FIELD,
        "language": _SUBTITLE_FIELD,
        "kind": _SUBTITLE_FIELD,
    },
    required=["file"],
)


@dataclass
class SubtitleUploadOperation(Operation):
    def __post_init__(self) -> None:
        form = Reference(ref="#/components/schemas/SubtitleUploadForm")
        raw = OpenAPIMediaType(schema=_SUBTITLE_FILE)
        self.request_body = RequestBody(
            content={
                "multipart/form-data": OpenAPIMediaType(schema=form),
                "text/vtt": raw,
                "application/x-subrip": raw,
                "application/octet-stream": raw,
            },
            required=True,
            description="The subtitle file: a multipart form with a `file` field, or the raw file",
        )
