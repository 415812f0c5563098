"""`Range: bytes=...` parsing (RFC 9110 section 14), pure: a header and a size in, byte ranges out.

`select_ranges` has three answers:

- None: serve the whole representation (200). The header is absent, malformed, in another unit, or
  asks for more ranges than are worth serving; RFC 9110 lets a server ignore Range in all of these.
- an empty tuple: nothing asked for exists (416 with `Content-Range: bytes */size`).
- one or more ByteRange: sorted, overlapping and adjacent ranges merged (206).

Numbers longer than any real size are read as "huge" rather than parsed, so a 20-digit or 5000-digit
position costs nothing and cannot crash: a huge first position is past the end, a huge last one is
clamped to the end, a huge suffix is the whole representation.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_RANGES = 16  # after coalescing; more is a scan, not a seek, and gets the full 200
MAX_RAW_RANGES = 100  # before coalescing: bounds the work one header can ask of us
MAX_DIGITS = 18  # every real size fits; longer numbers are treated as HUGE
HUGE = 10**MAX_DIGITS


class ByteRange(NamedTuple):
    """Bytes `start` (inclusive) to `end` (exclusive), like the blob store's `read`."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        """The `Content-Range` value, which names the last byte (inclusive)."""
        return f"bytes {self.start}-{self.end - 1}/{size}"


class RangeSpec(NamedTuple):
    """One syntactically valid range-spec: `first-last`, `first-` (last None), `-suffix` (first None)."""

    first: int | None
    last: int | None


def _number(text: str) -> int | None:
    # ASCII digits only: str.isdigit() alone would accept "²" or Arabic-Indic digits.
    if not text or not text.isascii() or not text.isdigit():
        return None
    digits = text.lstrip("0") or "0"  # leading zeros are allowed and change nothing
    return HUGE if len(digits) > MAX_DIGITS else int(digits)


def _spec(text: str) -> RangeSpec | None:
    first_text, dash, last_text = text.partition("-")
    if not dash:
        return None
    first_text, last_text = first_text.strip(), last_text.strip()
    if not first_text:
        suffix = _number(last_text)
        return None if suffix is None else RangeSpec(None, suffix)
    first = _number(first_text)
    if first is None:
        return None
    if not last_text:
        return RangeSpec(first, None)
    last = _number(last_text)
    if last is None or last < first:  # `500-100` makes the whole header invalid
        return None
    return RangeSpec(first, last)


def parse_range_header(value: str, *, max_raw: int = MAX_RAW_RANGES) -> list[RangeSpec] | None:
    """The range-specs of a `bytes=` header, or None when it must be ignored (any invalid part)."""
    unit, equals, ranges = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    specs: list[RangeSpec] = []
    for part in ranges.split(","):
        if not part.strip():
            continue  # the list syntax allows empty elements: "bytes=0-1,,5-6"
        spec = _spec(part)
        if spec is None:
            return None
        specs.append(spec)
        if len(specs) > max_raw:
            return None
    return specs or None


def resolve(specs: list[RangeSpec], size: int) -> list[ByteRange]:
    """The satisfiable ranges of `specs` against a representation of `size` bytes, clamped, in order."""
    ranges: list[ByteRange] = []
    for first, last in specs:
        if first is None:
            suffix = last or 0  # `-0` asks for no bytes at all
            if suffix > 0 and size > 0:
                ranges.append(ByteRange(max(0, size - suffix), size))
        elif first < size:
            ranges.append(ByteRange(first, size if last is None else min(last + 1, size)))
    return ranges


def coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    """Sorted, with overlapping and touching ranges merged into one."""
    merged: list[ByteRange] = []
    for current in sorted(ranges):
        if merged and current.start <= merged[-1].end:
            if current.end > merged[-1].end:
                merged[-1] = ByteRange(merged[-1].start, current.end)
        else:
            merged.append(current)
    return merged


def select_ranges(
    header: str | None, size: int, *, max_ranges: int = MAX_RANGES, max_raw: int = MAX_RAW_RANGES
) -> tuple[ByteRange, ...] | None:
    """None: serve everything (200); (): unsatisfiable (416); else the ranges to send (206)."""
    if header is None:
        return None
    specs = parse_range_header(header, max_raw=max_raw)
    if specs is None:
        return None
    ranges = coalesce(resolve(specs, size))
    if len(ranges) > max_ranges:
        return None
    return tuple(ranges)
