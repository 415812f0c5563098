"""Validators and conditional requests (RFC 9110 section 13), pure: headers and validators in, a verdict out.

Entity-tags are compared as the RFC asks: `If-None-Match` weakly (a `W/` prefix is ignored), `If-Range`
strongly (a weak tag never matches, so a client holding a weak tag gets the whole representation).
HTTP dates have whole seconds, so `Last-Modified` is compared truncated to the second.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, in a comma-separated list
_ETAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def http_date(moment: datetime) -> str:
    """IMF-fixdate, as `Last-Modified` wants it: `Sun, 06 Nov 1994 08:49:37 GMT`."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_http_date(value: str) -> datetime | None:
    """An HTTP date (IMF-fixdate, RFC 850 or asctime) as an aware UTC datetime; None when it is not one."""
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _entity_tags(value: str) -> list[tuple[bool, str]] | None:
    """(weak, opaque-tag) for each entity-tag of a list; None when the list is malformed."""
    tags: list[tuple[bool, str]] = []
    position = 0
    value = value.strip()
    while position < len(value):
        match = _ETAG.match(value, position)
        if match is None:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    return tags


def _opaque(etag: str) -> str:
    return etag.removeprefix("W/")


def none_match(if_none_match: str, etag: str) -> bool:
    """True when `If-None-Match` names the current representation (weak comparison, `*` for any)."""
    if if_none_match.strip() == "*":
        return True
    tags = _entity_tags(if_none_match)
    return bool(tags) and any(opaque == _opaque(etag) for _, opaque in tags or ())


def not_modified(
    if_none_match: str | None, if_modified_since: str | None, etag: str, last_modified: datetime
) -> bool:
    """Whether a GET or HEAD gets 304. `If-Modified-Since` counts only without `If-None-Match`."""
    if if_none_match is not None:
        return none_match(if_none_match, etag)
    if if_modified_since is not None:
        since = parse_http_date(if_modified_since)
        return since is not None and _seconds(last_modified) <= _seconds(since)
    return False


def if_range_allows(if_range: str | None, etag: str, last_modified: datetime) -> bool:
    """Whether the Range header may be honoured: no `If-Range`, or it names this exact representation.

    A strong entity-tag must equal ours; a weak one never matches; a date must equal Last-Modified.
    Anything else (a malformed value included) means "send the whole thing".
    """
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith("W/"):
        return False
    if value.startswith('"'):
        return not etag.startswith("W/") and value == etag
    moment = parse_http_date(value)
    return moment is not None and _seconds(moment) == _seconds(last_modified)
