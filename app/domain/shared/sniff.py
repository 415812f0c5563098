"""What a file is, judged by its first bytes (magic numbers), never by its name or declared type.

The type found here is what the file is stored and served as, so a page saved as `movie.mp4` is
refused (415) instead of being served back with a video type.
"""

from __future__ import annotations

import codecs

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


# -- attachments ------------------------------------------------------------------------------------
# Files for messages: an allowlist of kinds, each recognized by its magic bytes. SVG, HTML and any
# other markup are never accepted (script could ride along); plain text is UTF-8 with no NUL or other
# control bytes (tab, line feed, carriage return and form feed aside) in its head, and does not start
# with `<` (so a web page is never "plain text").

ATTACHMENT_SNIFF_BYTES = 1024
PNG, JPEG, GIF, WEBP = "image/png", "image/jpeg", "image/gif", "image/webp"
PDF, TEXT, ZIP = "application/pdf", "text/plain; charset=utf-8", "application/zip"
KINDS = {PNG: "image", JPEG: "image", GIF: "image", WEBP: "image", PDF: "pdf", TEXT: "text", ZIP: "zip"}
ATTACHMENTS_SUPPORTED = "PNG, JPEG, GIF or WebP images, PDF, plain UTF-8 text or ZIP"
_TEXT_CONTROLS = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D} | {0x7F}
_BOM = b"\xef\xbb\xbf"


def _plain_text(head: bytes) -> bool:
    if not head or _TEXT_CONTROLS.intersection(head):
        return False
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(
            head, final=False
        )  # a cut-off last char is fine
    except UnicodeDecodeError:
        return False
    return not text.removeprefix("\ufeff").lstrip().startswith("<")


_SIGNATURES: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"\x89PNG\r\n\x1a\n",), PNG),
    ((b"\xff\xd8\xff",), JPEG),
    ((b"GIF87a", b"GIF89a"), GIF),
    ((b"%PDF-",), PDF),
    ((b"PK\x03\x04", b"PK\x05\x06"), ZIP),  # a local file header, or an empty archive
)


def sniff_attachment(head: bytes) -> str | None:
    """The content type of an attachment starting with `head` (ATTACHMENT_SNIFF_BYTES of it), or None
    when it is none of the kinds we accept."""
    for magic, content_type in _SIGNATURES:
        if head.startswith(magic):
            return content_type
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    return TEXT if _plain_text(head.removeprefix(_BOM)) else None
