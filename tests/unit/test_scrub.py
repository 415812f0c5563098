"""Image metadata scrubbing (app/domain/attachments/scrub.py): location, camera, XMP and comments go,
the pixels and the orientation stay, and files with nothing to take out are left alone; a file laid
out unusually is re-encoded from its pixels instead."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from app.domain.attachments.scrub import Unscrubbable, scrubbed
from app.domain.attachments.thumbnails import ImageRefused, inspect_image

ORIENTATION, GPS_IFD, MAKE = 0x0112, 0x8825, 0x010F
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.4N"/>'
    b"</rdf:RDF></x:xmpmeta>"
)
ICC = b"\x00\x00\x01\x00test icc profile bytes" + bytes(200)  # opaque to Pillow: carried as given


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "Test Camera Maker"
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 24.0), "E", (2.0, 21.0, 3.0)
    return exif


def _picture(mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, (64, 48))
    image.putdata(
        [(x * 4 % 256, y * 5 % 256, (x * y) % 256, 200)[: len(mode)] for y in range(48) for x in range(64)]
    )
    return image


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.tobytes()


def _jpeg(orientation: int = 6, **extra: Any) -> bytes:
    out = io.BytesIO()
    _picture().save(out, "JPEG", exif=_exif(orientation), xmp=XMP, comment=b"shot at home", **extra)
    return out.getvalue()


def test_jpeg_keeps_pixels_colour_and_orientation_only() -> None:
    data = _jpeg(icc_profile=ICC)
    clean = scrubbed(data, "image/jpeg", 6)
    assert clean is not None
    assert _pixels(clean) == _pixels(data)  # the scan is copied, not re-encoded
    with Image.open(io.BytesIO(clean)) as image:
        assert dict(image.getexif()) == {ORIENTATION: 6}
        assert image.info["icc_profile"] == ICC
        assert "xmp" not in image.info
        assert "comment" not in image.info
    for secret in (b"Test Camera Maker", b"GPSLatitude", b"shot at home", b"http://ns.adobe.com"):
        assert secret in data
        assert secret not in clean


@pytest.mark.parametrize(
    "options", [{"progressive": True}, {"restart_marker_blocks": 1}], ids=["progressive", "restarts"]
)
def test_jpeg_scans_are_copied_whole(options: dict[str, Any]) -> None:
    """Tables between a progressive image's scans, and restart markers inside one, are image data."""
    data = _jpeg(**options)
    clean = scrubbed(data, "image/jpeg", 6)
    assert clean is not None
    assert _pixels(clean) == _pixels(data)
    assert b"GPSLatitude" not in clean


def test_jpeg_loses_what_follows_its_end_and_the_index_pointing_there() -> None:
    """A phone's multi-picture file: preview images (with EXIF of their own), or a motion photo's video."""
    out = io.BytesIO()
    first, second = _picture(), _picture().rotate(90)
    first.save(out, "MPO", save_all=True, append_images=[second], exif=_exif(6))
    data = out.getvalue() + b"trailing video with its own location"
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "MPO"
    clean = scrubbed(data, "image/jpeg", 6)
    assert clean is not None
    assert clean.endswith(b"\xff\xd9")
    assert clean.count(b"\xff\xd8") == 1
    assert b"MPF\x00" not in clean
    assert b"trailing video" not in clean
    with Image.open(io.BytesIO(clean)) as image:
        assert (image.format, getattr(image, "n_frames", 1)) == ("JPEG", 1)
        assert dict(image.getexif()) == {ORIENTATION: 6}
        assert image.tobytes() == _first_frame(data)


def _first_frame(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.seek(0)
        return image.tobytes()


def test_jpeg_shown_upright_loses_its_exif_block_entirely() -> None:
    clean = scrubbed(_jpeg(orientation=1), "image/jpeg", 1)
    assert clean is not None
    assert b"Exif\x00\x00" not in clean
    with Image.open(io.BytesIO(clean)) as image:
        assert not image.getexif()


def test_png_loses_exif_and_text_chunks() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "shot at home")
    text.add_itxt("XML:com.adobe.xmp", XMP.decode())
    out = io.BytesIO()
    _picture("RGBA").save(out, "PNG", exif=_exif(3), pnginfo=text)
    data = out.getvalue()
    clean = scrubbed(data, "image/png", 3)
    assert clean is not None
    assert _pixels(clean) == _pixels(data)
    with Image.open(io.BytesIO(clean)) as image:
        image.load()  # chunks after the image data are read too
        assert dict(image.getexif()) == {ORIENTATION: 3}
        assert "Comment" not in image.info
        assert "XML:com.adobe.xmp" not in image.info
    assert b"Test Camera Maker" not in clean
    assert b"shot at home" not in clean


def test_webp_loses_exif_and_xmp_chunks_and_their_flags() -> None:
    out = io.BytesIO()
    _picture().save(out, "WEBP", lossless=True, exif=_exif(8), xmp=XMP)
    data = out.getvalue()
    clean = scrubbed(data, "image/webp", 8)
    assert clean is not None
    assert _pixels(clean) == _pixels(data)
    assert int.from_bytes(clean[4:8], "little") == len(clean) - 8  # the RIFF size follows
    assert clean[20] & 0x04 == 0  # no XMP flag
    with Image.open(io.BytesIO(clean)) as image:
        assert dict(image.getexif()) == {ORIENTATION: 8}
        assert "xmp" not in image.info
    assert b"Test Camera Maker" not in clean
    assert b"GPSLatitude" not in clean


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_a_file_without_metadata_is_left_alone(fmt: str) -> None:
    out = io.BytesIO()
    _picture().save(out, fmt)
    assert scrubbed(out.getvalue(), Image.MIME[fmt], 1) is None


def test_jpeg_bytes_that_belong_to_no_segment_are_skipped_like_libjpeg() -> None:
    data = _jpeg()
    tables = data.find(b"\xff\xdb")
    padded = data[:tables] + b"\x00\x00\x00" + data[tables:]  # a broken writer's padding
    clean = scrubbed(padded, "image/jpeg", 6)
    assert clean is not None
    assert b"Test Camera Maker" not in clean
    assert b"shot at home" not in clean
    assert _pixels(clean) == _pixels(padded)


@pytest.mark.parametrize("cut", [3, 30, 200])
def test_a_damaged_file_is_unscrubbable(cut: int) -> None:
    data = _jpeg()
    with pytest.raises(Unscrubbable):
        scrubbed(data[:cut], "image/jpeg", 6)
    with pytest.raises(Unscrubbable):
        scrubbed(b"\x89PNG\r\n\x1a\n" + data[:cut], "image/png", 6)


def test_a_webp_with_a_short_extended_header_is_unscrubbable() -> None:
    exif = b"EXIF" + (4).to_bytes(4, "little") + b"GPS!"
    body = b"WEBP" + b"VP8X" + (0).to_bytes(4, "little") + exif
    with pytest.raises(Unscrubbable):
        scrubbed(b"RIFF" + len(body).to_bytes(4, "little") + body, "image/webp", 1)


def _png_without_end(mode: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "shot at home")
    out = io.BytesIO()
    if mode == "P":  # a palette with a transparent entry
        _picture("RGB").convert("P").save(out, "PNG", pnginfo=info, icc_profile=ICC, transparency=0)
    else:
        _picture(mode).save(out, "PNG", pnginfo=info, icc_profile=ICC)
    data = out.getvalue()
    return data[: data.rindex(b"IEND") - 4]  # Pillow decodes it; the scrubber finds no end


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P"])
def test_an_image_the_scrubber_cannot_walk_is_re_encoded_from_its_pixels(mode: str) -> None:
    data = _png_without_end(mode)
    with pytest.raises(Unscrubbable):
        scrubbed(data, "image/png", 1)
    facts = inspect_image(data, 10**6, "image/png")
    assert facts.original is not None
    assert b"shot at home" not in facts.original
    assert _pixels(facts.original) == _pixels(data)  # PNG: lossless
    with Image.open(io.BytesIO(facts.original)) as image, Image.open(io.BytesIO(data)) as uploaded:
        assert image.convert("RGBA").tobytes() == uploaded.convert("RGBA").tobytes()  # palette too
        assert image.mode == mode
        assert image.info.get("icc_profile") == ICC  # colour stays


def test_an_animation_the_scrubber_cannot_walk_is_refused() -> None:
    frames = [_picture("RGBA"), _picture("RGBA").rotate(90)]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:])
    data = out.getvalue()
    broken = data[: data.rindex(b"IEND") - 4]
    with pytest.raises(Unscrubbable):
        scrubbed(broken, "image/png", 1)
    with pytest.raises(ImageRefused, match="animation is laid out unusually"):
        inspect_image(broken, 10**6, "image/png")


def test_an_orientation_tag_out_of_range_counts_as_upright() -> None:
    clean = scrubbed(_jpeg(), "image/jpeg", (6, 6))
    assert clean is not None
    assert b"Exif\x00\x00" not in clean
