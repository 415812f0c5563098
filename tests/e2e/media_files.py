"""Small media files for the browser tests: a real video from ffmpeg when it is installed, otherwise
a silent Ogg Opus file crafted byte by byte (a valid, seekable Ogg that Chromium plays in <video>)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

OPUS_SILENCE = bytes([0xF8, 0xFF, 0xFE])  # one 20 ms CELT frame of silence (fullband, mono)
SAMPLES_PER_PACKET = 960  # 20 ms at 48 kHz
PACKETS_PER_PAGE = 50  # one second per page, so seeking has granule positions to bisect on


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) & 0xFF) ^ byte]
    return crc


def _page(packets: list[bytes], granule: int, sequence: int, flags: int, serial: int = 0x48554444) -> bytes:
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    page = bytearray(header + bytes(lacing) + b"".join(packets))
    struct.pack_into("<I", page, 22, _ogg_crc(bytes(page)))
    return bytes(page)


def silent_ogg_opus(seconds: int = 12) -> bytes:
    """RFC 7845: an OpusHead page, an OpusTags page, then one page of 50 silent packets per second."""
    head = struct.pack("<8sBBHIhB", b"OpusHead", 1, 1, 0, 48000, 0, 0)
    vendor = b"huddle-tests"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    pages = [_page([head], 0, 0, 0x02), _page([tags], 0, 1, 0)]
    for second in range(seconds):
        last = second == seconds - 1
        granule = (second + 1) * PACKETS_PER_PAGE * SAMPLES_PER_PACKET
        pages.append(_page([OPUS_SILENCE] * PACKETS_PER_PAGE, granule, second + 2, 0x04 if last else 0))
    return b"".join(pages)


def make_test_video(folder: Path, seconds: int = 12) -> Path:
    """A short WebM (VP8 test pattern) from ffmpeg, or the crafted Ogg when ffmpeg is absent."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        target = folder / "test-pattern.webm"
        subprocess.run(
            [
                ffmpeg,
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc=size=160x120:rate=10:duration={seconds}",
                "-c:v",
                "libvpx",
                "-b:v",
                "100k",
                "-g",
                "10",
                str(target),
            ],
            check=True,
            timeout=60,
        )
        return target
    target = folder / "silence.ogg"
    target.write_bytes(silent_ogg_opus(seconds))
    return target
