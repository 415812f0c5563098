"""What a file is, judged by its first bytes (magic numbers), never by its name or declared type.

The type found here is what the file is stored and served as, so a page saved as `movie.mp4` is
refused (415) instead of being served back with a video type.
"""

from __future__ import annotations

SNIFF_BYTES = 64  # enough for every signature below, the Matroska DocType included

MP4 = "video/mp4"
QUICKTIME = "video/quicktime"
WEBM = "video/webm"
MATROSKA = "video/x-matroska"
OGG = "video/ogg"
AVI = "video/x-msvideo"

SUPPORTED = "MP4, MOV, WebM, MKV, OGG or AVI"
_EBML = b"\x1a\x45\xdf\xa3"


def sniff(head: bytes) -> str | None:
    """The video content type of a file starting with `head`, or None when it is not one we accept."""
    if head[4:8] == b"ftyp":  # ISO base media: a box size, then `ftyp` and the major brand
        return QUICKTIME if head[8:12] == b"qt  " else MP4
    if head.startswith(_EBML):  # Matroska; WebM declares the DocType "webm" in the EBML header
        return WEBM if b"webm" in head[4:SNIFF_BYTES] else MATROSKA
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return AVI
    return None
