"""Which requests Huddle hands to nginx or Azure (STREAM_OFFLOAD): only those they answer exactly as
Huddle would; the rest Huddle answers itself (app/streaming/offload.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Request

from app.blobstore import BlobInfo
from app.streaming.conditions import http_date
from app.streaming.offload import offloadable

MODIFIED = datetime(2026, 12, 5, 21, 0, 0, tzinfo=UTC)
INFO = BlobInfo(size=1000, etag='"6b147ef2-3e8"', last_modified=MODIFIED, content_type="video/mp4")


def request(method: str = "GET", **headers: str) -> Request[Any, Any, Any]:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    scope: Any = {"type": "http", "method": method, "headers": raw, "path": "/", "query_string": b""}
    return Request(scope)


@pytest.mark.parametrize(
    ("method", "headers", "handed"),
    [
        ("GET", {}, True),
        ("GET", {"range": "bytes=0-"}, True),
        ("GET", {"range": "bytes=10-99"}, True),
        ("GET", {"range": "bytes=999-5000"}, True),  # clamped alike
        ("GET", {"range": "bytes=10-99", "if_range": INFO.etag}, True),  # nginx checks the same tag
        ("GET", {"if_none_match": '"other"'}, True),
        ("HEAD", {}, False),
        ("GET", {"if_none_match": INFO.etag}, False),  # 304
        ("GET", {"if_modified_since": http_date(MODIFIED)}, False),  # 304
        ("GET", {"range": "bytes=1000-"}, False),  # 416
        ("GET", {"range": "bytes=-10"}, False),  # suffix: Azurite answers 500
        ("GET", {"range": "bytes=0-9,20-29"}, False),  # multipart
        ("GET", {"range": "bytes=0-9,"}, False),  # nginx refuses the empty element
        ("GET", {"range": "bytes=500-100"}, False),  # ignored by Huddle
        ("GET", {"range": "bytes=0-" + "9" * 19}, False),  # nginx 416s what Huddle clamps
        ("GET", {"range": "items=0-9"}, False),
        ("GET", {"range": "bytes=10-99", "if_range": '"stale"'}, False),  # Azure would ignore it
    ],
)
def test_only_what_the_byte_server_answers_alike_is_handed_over(
    method: str, headers: dict[str, str], handed: bool
) -> None:
    assert offloadable(request(method, **headers), INFO) is handed
