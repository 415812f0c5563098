"""Helpers for the attachment tests: a small file of every allowed kind, and the upload flow."""

from __future__ import annotations

import io
import random
import zipfile
from typing import Any

from PIL import Image

from tests.conftest import AppClient
from tests.helpers import Account

CHUNK = 4 * 1024


def png(width: int = 400, height: int = 300) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def noisy_png(width: int, height: int) -> bytes:
    """A PNG that does not compress: random pixels."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), random.Random(3).randbytes(width * height * 3)).save(out, "PNG")
    return out.getvalue()


def _image(kind: str, size: tuple[int, int] = (160, 90)) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size)
    image.putdata([(x % 256, y % 256, 99) for y in range(size[1]) for x in range(size[0])])
    image.save(out, kind)
    return out.getvalue()


def jpeg_with_exif(width: int = 600, height: int = 400) -> bytes:
    """A JPEG stored landscape whose EXIF says "rotate 90 degrees" (orientation 6), with GPS tags."""
    image = Image.new("RGB", (width, height), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; show it portrait
    exif[0x010F] = "Test Camera Maker"
    gps = exif.get_ifd(0x8825)  # GPSInfo
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 24.0), "E", (2.0, 21.0, 3.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n" + bytes(
        random.Random(1).randbytes(5000)
    )


def text() -> bytes:
    return ("Grüße aus Zürich — ünïcödé text, line after line.\n" * 200).encode()


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hello " * 1000)
        archive.writestr("data.bin", random.Random(2).randbytes(3000))
    return out.getvalue()


def every_kind() -> dict[str, tuple[str, bytes, str, str]]:
    """name -> (file name, bytes, kind, content type)."""
    return {
        "png": ("cat.png", png(), "image", "image/png"),
        "jpeg": ("photo.jpg", _image("JPEG"), "image", "image/jpeg"),
        "gif": ("anim.gif", _image("GIF"), "image", "image/gif"),
        "webp": ("pic.webp", _image("WEBP"), "image", "image/webp"),
        "pdf": ("report.pdf", pdf(), "pdf", "application/pdf"),
        "text": ("notes.txt", text(), "text", "text/plain; charset=utf-8"),
        "zip": ("bundle.zip", zip_archive(), "zip", "application/zip"),
    }


HTML_AS_PNG = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)


async def start(client: AppClient, who: Account, gid: int, size: int, name: str) -> Any:
    return await client.post(
        "/api/v1/uploads",
        json={"name": name, "size": size, "group_id": gid, "chunk_size": CHUNK, "purpose": "attachment"},
        headers=who.headers,
    )


async def put(client: AppClient, who: Account, upload_id: str, index: int, data: bytes) -> Any:
    return await client.put(
        f"/api/v1/uploads/{upload_id}/chunks/{index}",
        content=data,
        headers=who.headers | {"content-type": "application/octet-stream"},
    )


async def attach(
    client: AppClient, who: Account, gid: int, data: bytes, name: str = "file.bin", *, status: int = 201
) -> Any:
    """Upload `data` as an attachment in chunks; the completion's response (checked against `status`)."""
    session = await start(client, who, gid, len(data), name)
    assert session.status_code == 201, session.text
    upload_id = session.json()["id"]
    for index, offset in enumerate(range(0, len(data), CHUNK)):
        response = await put(client, who, upload_id, index, data[offset : offset + CHUNK])
        assert response.status_code == 200, response.text
    done = await client.post(f"/api/v1/uploads/{upload_id}/complete", headers=who.headers)
    assert done.status_code == status, done.text
    return done
