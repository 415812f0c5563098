"""What counts as an attachment, by its first bytes: the allowlist, and what plain text means."""

from __future__ import annotations

import pytest

from app.domain.shared.sniff import GIF, JPEG, PDF, PNG, TEXT, WEBP, ZIP, sniff_attachment


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", JPEG),
        (b"GIF89a\x01\x00", GIF),
        (b"GIF87a\x01\x00", GIF),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", WEBP),
        (b"%PDF-1.7\n", PDF),
        (b"PK\x03\x04\x14\x00", ZIP),
        (b"PK\x05\x06" + bytes(18), ZIP),
        (b"Hello, world\r\n\tTabs and lines\x0c", TEXT),
        ("Grüße, 日本語, emoji 🎉".encode(), TEXT),
        (b"\xef\xbb\xbfWith a byte order mark", TEXT),
        ("é".encode() * 10 + "日".encode()[:2], TEXT),  # a character cut off at the end of the head
    ],
)
def test_allowed_kinds(head: bytes, expected: str) -> None:
    assert sniff_attachment(head) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE html><html><script>alert(1)</script>",
        b"  \n<html><body>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
        b"<svg onload=alert(1)>",
        b"\xef\xbb\xbf<html>",
        b"text with a NUL \x00 byte",
        b"text with an escape \x1b[31m",
        b"text with DEL \x7f",
        b"\xff\xfe\x00\x00 not UTF-8",
        b"caf\xe9 latin-1",
        b"",
        b"RIFF\x24\x00\x00\x00AVI LIST",  # a video, not an attachment kind
        b"\x00\x00\x00\x18ftypisom",
    ],
)
def test_refused(head: bytes) -> None:
    assert sniff_attachment(head) is None
