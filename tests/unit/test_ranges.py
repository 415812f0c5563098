"""`Range` header parsing (RFC 9110 section 14): every case a client or an attacker can send."""

from __future__ import annotations

import pytest

from app.streaming.ranges import (
    HUGE,
    MAX_RANGES,
    MAX_RAW_RANGES,
    ByteRange,
    RangeSpec,
    coalesce,
    parse_range_header,
    select_ranges,
)

SIZE = 10_000
FULL = None  # serve the whole representation, 200
UNSATISFIABLE = ()  # 416


def r(start: int, end: int) -> ByteRange:
    return ByteRange(start, end)


CASES: list[tuple[str | None, tuple[ByteRange, ...] | None]] = [
    # no header, or one to ignore: 200
    (None, FULL),
    ("", FULL),
    ("bytes", FULL),
    ("bytes=", FULL),
    ("bytes= ", FULL),
    ("bytes=,", FULL),
    ("bytes=-", FULL),
    ("bytes=abc", FULL),
    ("bytes=0", FULL),
    ("bytes=1-2-3", FULL),
    ("bytes=a-5", FULL),
    ("bytes=5-b", FULL),
    ("bytes=-5-", FULL),
    ("bytes=+1-5", FULL),
    ("bytes=-+5", FULL),
    ("bytes=0x10-20", FULL),
    ("bytes=1.5-2", FULL),
    ("bytes=²-5", FULL),  # a Unicode digit is not a digit here
    ("bytes=\u0661-\u0665", FULL),  # Arabic-Indic one and five
    ("items=0-1", FULL),
    ("octets=0-1", FULL),
    ("0-1", FULL),
    ("bytes:0-1", FULL),
    ("bytes=500-100", FULL),  # inverted: the whole header is invalid
    ("bytes=0-1,500-100", FULL),  # one invalid spec spoils the set
    ("bytes=0-1,junk", FULL),
    # single ranges: 206
    ("bytes=0-0", (r(0, 1),)),
    ("bytes=0-499", (r(0, 500),)),
    ("bytes=500-999", (r(500, 1000),)),
    ("bytes=9999-9999", (r(9999, 10_000),)),
    ("bytes=0-", (r(0, SIZE),)),
    ("bytes=9500-", (r(9500, SIZE),)),
    ("bytes=-500", (r(9500, SIZE),)),
    ("bytes=-1", (r(9999, SIZE),)),
    ("bytes=-10000", (r(0, SIZE),)),
    ("bytes=-20000", (r(0, SIZE),)),  # a suffix longer than the file is the whole file
    ("bytes=9000-20000", (r(9000, SIZE),)),  # an end past the file is clamped
    ("BYTES=0-9", (r(0, 10),)),  # the unit is case-insensitive
    ("Bytes=0-9", (r(0, 10),)),
    # whitespace around list elements (and, leniently, around the unit and inside a spec)
    ("bytes=0-9, 20-29", (r(0, 10), r(20, 30))),
    ("bytes=  0-9 ,\t20-29  ", (r(0, 10), r(20, 30))),
    (" bytes =0-9", (r(0, 10),)),
    ("bytes=0 - 9", (r(0, 10),)),
    ("bytes=0-9,,20-29,", (r(0, 10), r(20, 30))),  # empty list elements are allowed
    # several ranges: sorted, overlapping and adjacent ones merged
    ("bytes=0-9,20-29,40-49", (r(0, 10), r(20, 30), r(40, 50))),
    ("bytes=40-49,0-9,20-29", (r(0, 10), r(20, 30), r(40, 50))),
    ("bytes=0-9,5-14", (r(0, 15),)),
    ("bytes=0-9,10-19", (r(0, 20),)),  # adjacent
    ("bytes=0-9,11-19", (r(0, 10), r(11, 20))),  # a one-byte gap stays two parts
    ("bytes=0-99,10-20", (r(0, 100),)),  # contained
    ("bytes=0-0,0-0,0-0", (r(0, 1),)),
    ("bytes=-500,0-99", (r(0, 100), r(9500, SIZE))),
    ("bytes=9000-,-500", (r(9000, SIZE),)),
    ("bytes=0-,100-200", (r(0, SIZE),)),
    ("bytes=0-9,20000-30000", (r(0, 10),)),  # the unsatisfiable part is dropped
    ("bytes=20000-30000,-5", (r(9995, SIZE),)),
    # nothing satisfiable: 416
    ("bytes=10000-", UNSATISFIABLE),
    ("bytes=10000-10001", UNSATISFIABLE),
    ("bytes=20000-30000", UNSATISFIABLE),
    ("bytes=-0", UNSATISFIABLE),
    ("bytes=10000-,-0,20000-20001", UNSATISFIABLE),
    # numbers of 20 and more digits: no crash, no huge allocation
    ("bytes=0-99999999999999999999", (r(0, SIZE),)),
    ("bytes=5-" + "9" * 5000, (r(5, SIZE),)),
    ("bytes=99999999999999999999-", UNSATISFIABLE),
    ("bytes=99999999999999999999-99999999999999999999", UNSATISFIABLE),
    ("bytes=" + "9" * 5000 + "-", UNSATISFIABLE),
    ("bytes=-99999999999999999999", (r(0, SIZE),)),
    ("bytes=00000000000000000000000005-9", (r(5, 10),)),  # many digits but a small value
    ("bytes=99999999999999999999-5", FULL),  # still inverted
]


@pytest.mark.parametrize(("header", "expected"), CASES)
def test_select_ranges(header: str | None, expected: tuple[ByteRange, ...] | None) -> None:
    assert select_ranges(header, SIZE) == expected


def test_many_ranges_after_coalescing_are_capped() -> None:
    within = ",".join(f"{i * 10}-{i * 10 + 4}" for i in range(MAX_RANGES))
    assert select_ranges(f"bytes={within}", SIZE) == tuple(r(i * 10, i * 10 + 5) for i in range(MAX_RANGES))
    beyond = ",".join(f"{i * 10}-{i * 10 + 4}" for i in range(MAX_RANGES + 1))
    assert select_ranges(f"bytes={beyond}", SIZE) is FULL


def test_many_raw_ranges_that_coalesce_are_served() -> None:
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(MAX_RAW_RANGES))
    assert select_ranges(header, SIZE) == (r(0, MAX_RAW_RANGES),)


def test_too_many_raw_ranges_are_ignored() -> None:
    # 200 single-byte ranges would coalesce into one, but asking for that many is refused outright.
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(200))
    assert select_ranges(header, SIZE) is FULL
    header = "bytes=" + ",".join("0-0" for _ in range(MAX_RAW_RANGES + 1))
    assert select_ranges(header, SIZE) is FULL


def test_limits_can_be_tuned() -> None:
    assert select_ranges("bytes=0-1,5-6,9-10", SIZE, max_ranges=2) is FULL
    assert select_ranges("bytes=0-1,5-6", SIZE, max_raw=1) is FULL


@pytest.mark.parametrize(
    ("header", "expected"),
    [("bytes=0-", UNSATISFIABLE), ("bytes=-5", UNSATISFIABLE), ("bytes=0-0", UNSATISFIABLE), ("x", FULL)],
)
def test_empty_representation(header: str, expected: tuple[ByteRange, ...] | None) -> None:
    assert select_ranges(header, 0) == expected


def test_one_byte_representation() -> None:
    assert select_ranges("bytes=0-", 1) == (r(0, 1),)
    assert select_ranges("bytes=-5", 1) == (r(0, 1),)
    assert select_ranges("bytes=1-", 1) == UNSATISFIABLE


def test_parse_keeps_specs_unresolved() -> None:
    assert parse_range_header("bytes=0-5, 7-, -3") == [
        RangeSpec(0, 5),
        RangeSpec(7, None),
        RangeSpec(None, 3),
    ]
    assert parse_range_header("bytes=1-" + "9" * 30) == [RangeSpec(1, HUGE)]


def test_coalesce() -> None:
    assert coalesce([]) == []
    assert coalesce([r(5, 10), r(0, 5)]) == [r(0, 10)]
    assert coalesce([r(0, 3), r(1, 2), r(2, 8), r(9, 10)]) == [r(0, 8), r(9, 10)]


def test_byte_range_helpers() -> None:
    assert r(0, 500).length == 500
    assert r(0, 500).content_range(10_000) == "bytes 0-499/10000"
    assert r(9999, 10_000).content_range(10_000) == "bytes 9999-9999/10000"
