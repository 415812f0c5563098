"""Metadata taken out of an image original before anyone else can download it, pixels untouched.

A phone photo's EXIF and XMP carry where it was taken (GPS), when, and the camera's make and serial
number; everyone in the group could read them from the original. The container is rewritten without
them, and the compressed image data is copied as it is: nothing is decoded or re-encoded. Only the
EXIF orientation is kept (written afresh as the one tag of a minimal EXIF block), so the photo still
shows upright. ICC colour profiles and everything else that affects how the image looks stay.

- JPEG: EXIF and XMP (APP1), Photoshop/IPTC (APP13) and comment segments, and whatever follows
  the end of the image (a phone's preview images and motion-photo video, which carry
  metadata of their own), with the multi-picture index (APP2 `MPF`) that pointed at them.
- PNG: `eXIf` and the text chunks (`tEXt`, `zTXt`, `iTXt`: comments, authors, XMP).
- WebP (extended format): the `EXIF` and `XMP ` chunks, and their flags in `VP8X`.
- GIF carries no EXIF and is left as it is.

`scrubbed` returns None when there is nothing to take out: the original is then kept as uploaded.
It raises Unscrubbable when the container is not laid out as expected (a segment overrunning the
file, no end marker); a file Pillow still decodes is then re-encoded from its pixels instead
(thumbnails.py), so no metadata ever survives by being hard to find. Bytes between JPEG segments
that belong to none are skipped, as libjpeg skips them.
"""

from __future__ import annotations

import struct
import zlib

JPEG, PNG, WEBP = "image/jpeg", "image/png", "image/webp"
UPRIGHT = 1  # EXIF orientation: no rotation or mirroring needed

_EXIF = b"Exif\x00\x00"  # what starts a JPEG's EXIF segment
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT = {b"tEXt", b"zTXt", b"iTXt"}
_JPEG_SOS, _JPEG_EOI, _JPEG_APP1, _JPEG_APP2, _JPEG_APP13, _JPEG_COM = 0xDA, 0xD9, 0xE1, 0xE2, 0xED, 0xFE
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # markers without a length field
_WEBP_EXIF_FLAG, _WEBP_XMP_FLAG = 0x08, 0x04


class Unscrubbable(Exception):
    """The container is not laid out as expected: its metadata cannot be cut out safely."""


def scrubbed(data: bytes, content_type: str, orientation: object) -> bytes | None:
    """`data` without its metadata, or None when it has none to take out."""
    # The tag holds whatever the file says: anything but 1-8 means no rotation.
    turn = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else UPRIGHT
    if content_type == JPEG:
        return _jpeg(data, turn)
    if content_type == PNG:
        return _png(data, turn)
    if content_type == WEBP:
        return _webp(data, turn)
    return None


def _tiff(orientation: int) -> bytes:
    """A big-endian TIFF header and one IFD holding only the orientation tag (SHORT, one value)."""
    return b"MM\x00\x2a" + struct.pack(">IHHHIHHI", 8, 1, 0x0112, 3, 1, orientation, 0, 0)


def _jpeg(data: bytes, orientation: int) -> bytes | None:
    if not data.startswith(b"\xff\xd8"):
        raise Unscrubbable
    out, pos, changed = [data[:2]], 2, False
    while (found := _next_marker(data, pos)) is not None:
        changed = changed or found > pos  # what lay between the segments is dropped
        pos = found
        marker = data[pos + 1]
        if marker == _JPEG_EOI:
            out.append(data[pos : pos + 2])
            changed = changed or pos + 2 < len(data)  # anything after the image goes
            return b"".join(out) if changed else None
        if marker in _JPEG_STANDALONE:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if pos + 4 > len(data) or end > len(data) or end < pos + 4:
            raise Unscrubbable
        payload = data[pos + 4 : end]
        if marker == _JPEG_SOS:  # the scan header, then its image data, copied as they are
            scan_end = _scan_end(data, end)
            if scan_end is None:
                raise Unscrubbable
            out.append(data[pos:scan_end])
            end = scan_end
        elif _jpeg_metadata(marker, payload):
            changed = True
            if orientation != UPRIGHT and marker == _JPEG_APP1 and payload.startswith(_EXIF):
                exif = _EXIF + _tiff(orientation)
                out.append(b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif)
                orientation = UPRIGHT  # written once, whatever else follows
        else:
            out.append(data[pos:end])
        pos = end
    raise Unscrubbable  # no end of image


def _next_marker(data: bytes, pos: int) -> int | None:
    """Where the next marker starts from `pos`: bytes that belong to no segment, and fill bytes
    (0xFF before a marker), are skipped, as libjpeg skips them."""
    while (pos := data.find(b"\xff", pos)) >= 0 and pos + 1 < len(data):
        if data[pos + 1] != 0xFF:
            return pos
        pos += 1
    return None


def _jpeg_metadata(marker: int, payload: bytes) -> bool:
    """EXIF and XMP (APP1), IPTC (APP13), comments, and the index of images after the end (MPF)."""
    return marker in (_JPEG_APP1, _JPEG_APP13, _JPEG_COM) or (
        marker == _JPEG_APP2 and payload.startswith(b"MPF\x00")
    )


def _scan_end(data: bytes, pos: int) -> int | None:
    """Where the entropy-coded data from `pos` ends: at the first marker that is not a stuffed
    0xFF00, a restart marker or a fill byte."""
    while (pos := data.find(b"\xff", pos)) >= 0 and pos + 1 < len(data):
        following = data[pos + 1]
        if following == 0 or 0xD0 <= following <= 0xD7:
            pos += 2
        elif following == 0xFF:
            pos += 1
        else:
            return pos
    return None


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(data: bytes, orientation: int) -> bytes | None:
    if not data.startswith(_PNG_SIGNATURE):
        raise Unscrubbable
    out, pos, changed = [_PNG_SIGNATURE], len(_PNG_SIGNATURE), False
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise Unscrubbable
        if kind == b"eXIf":
            changed = True
            if orientation != UPRIGHT:
                out.append(_png_chunk(b"eXIf", _tiff(orientation)))
                orientation = UPRIGHT
        elif kind in _PNG_TEXT:
            changed = True
        else:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            return b"".join(out) if changed else None
    raise Unscrubbable  # no IEND


def _webp(data: bytes, orientation: int) -> bytes | None:
    if len(data) < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP" or data[12:16] != b"VP8X":
        return None  # the simple formats (VP8, VP8L alone) have no room for metadata
    chunks, pos, changed = [], 12, False
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size + (size & 1)  # chunks are padded to an even size
        if end > len(data) + (size & 1):
            raise Unscrubbable
        if kind == b"EXIF":
            changed = True
            if orientation != UPRIGHT:
                tiff = _tiff(orientation)
                chunks.append(b"EXIF" + struct.pack("<I", len(tiff)) + tiff)
                orientation = UPRIGHT
        elif kind == b"XMP ":
            changed = True
        else:
            chunks.append(data[pos:end])
        pos = end
    if not changed:
        return None
    if len(chunks[0]) < 18:  # VP8X: its header, then 10 bytes (flags first)
        raise Unscrubbable
    has_exif = any(chunk.startswith(b"EXIF") for chunk in chunks)
    header = bytearray(chunks[0])
    header[8] = (header[8] & ~(_WEBP_EXIF_FLAG | _WEBP_XMP_FLAG)) | (_WEBP_EXIF_FLAG if has_exif else 0)
    body = b"WEBP" + bytes(header) + b"".join(chunks[1:])
    return b"RIFF" + struct.pack("<I", len(body)) + body
