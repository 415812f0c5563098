"""Validators: If-None-Match (weak), If-Range (strong), HTTP dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.streaming.conditions import http_date, if_range_allows, none_match, not_modified, parse_http_date

ETAG = '"abc-123"'
MODIFIED = datetime(2024, 3, 5, 10, 20, 30, 456_000, tzinfo=UTC)  # sub-second part: dates drop it
MODIFIED_TEXT = "Tue, 05 Mar 2024 10:20:30 GMT"


def test_http_date_round_trip() -> None:
    assert http_date(MODIFIED) == MODIFIED_TEXT
    assert http_date(MODIFIED.astimezone(timezone(timedelta(hours=5)))) == MODIFIED_TEXT
    assert parse_http_date(MODIFIED_TEXT) == MODIFIED.replace(microsecond=0)


@pytest.mark.parametrize(
    "text",
    [
        "Tue, 05 Mar 2024 10:20:30 GMT",  # IMF-fixdate
        "Tuesday, 05-Mar-24 10:20:30 GMT",  # RFC 850
        "Tue Mar  5 10:20:30 2024",  # asctime
    ],
)
def test_parse_http_date_formats(text: str) -> None:
    assert parse_http_date(text) == datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["", "yesterday", "Tue, 32 Mar 2024 10:20:30 GMT", "Tue, 05 Mar 99999 1:2:3 GMT"]
)
def test_parse_http_date_rejects(text: str) -> None:
    assert parse_http_date(text) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (ETAG, True),
        ("*", True),
        (" * ", True),
        (f"W/{ETAG}", True),  # weak comparison
        (f'"other", {ETAG}', True),
        (f'"other",W/{ETAG} , "x"', True),
        ('"other"', False),
        ('"abc-12"', False),
        ("abc-123", False),  # unquoted: malformed
        (f"{ETAG} junk", False),
        ("", False),
        (",", False),
    ],
)
def test_none_match(header: str, expected: bool) -> None:
    assert none_match(header, ETAG) is expected


def test_not_modified() -> None:
    assert not not_modified(None, None, ETAG, MODIFIED)
    assert not_modified(ETAG, None, ETAG, MODIFIED)
    assert not not_modified('"old"', None, ETAG, MODIFIED)
    assert not_modified(None, MODIFIED_TEXT, ETAG, MODIFIED)
    assert not_modified(None, "Wed, 06 Mar 2024 00:00:00 GMT", ETAG, MODIFIED)
    assert not not_modified(None, "Tue, 05 Mar 2024 10:20:29 GMT", ETAG, MODIFIED)
    assert not not_modified(None, "not a date", ETAG, MODIFIED)
    # If-None-Match wins over If-Modified-Since, whichever way it goes.
    assert not not_modified('"old"', MODIFIED_TEXT, ETAG, MODIFIED)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, True),
        (ETAG, True),
        (f" {ETAG} ", True),
        (f"W/{ETAG}", False),  # a weak tag never matches If-Range
        ('"other"', False),
        (MODIFIED_TEXT, True),
        ("Tuesday, 05-Mar-24 10:20:30 GMT", True),
        ("Tue, 05 Mar 2024 10:20:31 GMT", False),  # a date must match exactly, not just be later
        ("Tue, 05 Mar 2024 10:20:29 GMT", False),
        ("garbage", False),
        ("", False),
    ],
)
def test_if_range(header: str | None, expected: bool) -> None:
    assert if_range_allows(header, ETAG, MODIFIED) is expected
