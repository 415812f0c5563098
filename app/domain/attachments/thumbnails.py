"""Image facts and thumbnails, with Pillow, run in a worker thread (never on the event loop).

The pixel count is checked from the header before anything is decoded, so a decompression bomb (a
small file that inflates to gigapixels) is refused without allocating it. The thumbnail has the EXIF
orientation applied and carries no metadata at all (no EXIF, GPS, ICC or comments): it is re-encoded
from pixels only. The original loses its location and camera metadata too, losslessly
(app/domain/attachments/scrub.py), or, when its container is laid out unusually, by being re-encoded
from its pixels.

Memory: the thumbnail is made from the image as decoded, with no full-size copy (a JPEG is decoded
at 1/2 to 1/8 of its size through Pillow's `draft`, other formats are `reduce`d right after
decoding); only the rare re-encoded original needs the full picture twice. Callers bound how many
images a worker decodes at once (`Runtime.image_slots`).
"""

from __future__ import annotations

import io
import struct
import warnings

import anyio
from PIL import Image, ImageOps

from app.domain.attachments.scrub import UPRIGHT, Unscrubbable, scrubbed

THUMB_WIDTH = 320
THUMB_MAX_HEIGHT = 960  # very tall images are cut down to this height, aspect kept
THUMB_CONTENT_TYPE = "image/webp"
THUMB_QUALITY = 80
SIDEWAYS = {5, 6, 7, 8}  # EXIF orientations that swap width and height
SHRINKABLE_MODES = {"RGB", "RGBA", "L", "CMYK"}  # resized smoothly as they are


class ImageRefused(Exception):
    """Not a readable image, or too many pixels (a decompression bomb)."""


class ImageFacts:
    __slots__ = ("height", "original", "thumbnail", "width")

    def __init__(self, width: int, height: int, thumbnail: bytes, original: bytes | None) -> None:
        self.width = width  # as displayed: after the EXIF orientation
        self.height = height
        self.thumbnail = thumbnail
        self.original = original  # the file without its metadata; None when it had none


def inspect_image(data: bytes, max_pixels: int, content_type: str) -> ImageFacts:
    """Dimensions, a WebP thumbnail and the scrubbed original of an image file; ImageRefused when it
    is unusable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size  # from the header: nothing decoded yet
                if 0 < width * height <= max_pixels:
                    image.seek(0)  # the first frame of an animation
                    orientation = image.getexif().get(0x0112, UPRIGHT)
                    try:
                        original = scrubbed(data, content_type, orientation)
                    except Unscrubbable:
                        original = _pixels_only(image, ImageOps.exif_transpose(image))
                    shown = (height, width) if orientation in SIDEWAYS else (width, height)
                    return ImageFacts(*shown, thumbnail=_thumbnail(image, orientation), original=original)
    # IndexError and struct.error: a parser (Pillow's, or the scrubber's) that reads past a short header
    # refuses the file as unreadable instead of failing the request. A container the scrubber finds
    # laid out unusually is Unscrubbable, and re-encoded above.
    except (
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        IndexError,
        struct.error,
        Image.DecompressionBombError,
        Warning,
    ) as error:
        raise ImageRefused(f"This image cannot be read: {type(error).__name__}") from None
    raise ImageRefused(f"The image has {width} x {height} pixels; at most {max_pixels} are accepted")


def _thumbnail(image: Image.Image, orientation: int) -> bytes:
    """The WebP thumbnail, upright. Shrunk before anything else (in place: `image` is spent), so no
    full-size copy is made; palette and other exotic modes are converted first, to shrink smoothly."""
    alpha = _has_alpha(image)
    if image.mode not in SHRINKABLE_MODES:
        image = image.convert("RGBA" if alpha else "RGB")
    box = (THUMB_MAX_HEIGHT, THUMB_WIDTH) if orientation in SIDEWAYS else (THUMB_WIDTH, THUMB_MAX_HEIGHT)
    image.thumbnail(box, Image.Resampling.LANCZOS)  # a JPEG is decoded at reduced size (draft)
    thumb = ImageOps.exif_transpose(image).convert("RGBA" if alpha else "RGB")
    clean = Image.new(thumb.mode, thumb.size)  # pixels only: nothing of `info` comes along
    clean.paste(thumb)
    out = io.BytesIO()
    clean.save(out, "WEBP", quality=THUMB_QUALITY, method=4)
    return out.getvalue()


def _pixels_only(image: Image.Image, upright: Image.Image) -> bytes:
    """The original re-encoded from its pixels, upright, in its own format, keeping only its colour
    profile: for a file whose metadata could not be cut out (scrub.py). Lossless for PNG; JPEG and
    WebP at a quality that hides the second generation."""
    if getattr(image, "n_frames", 1) > 1:
        raise ImageRefused("This animation is laid out unusually and its metadata cannot be removed")
    clean = upright.copy()  # pixels and palette; of `info`, only what is part of the picture
    clean.info = {"transparency": upright.info["transparency"]} if "transparency" in upright.info else {}
    kept = {"icc_profile": image.info["icc_profile"]} if image.info.get("icc_profile") else {}
    out = io.BytesIO()
    fmt = image.format or "PNG"
    clean.save(out, fmt, **kept, **({"quality": 95} if fmt in {"JPEG", "WEBP"} else {}))
    return out.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info)


async def inspect_image_off_loop(data: bytes, max_pixels: int, content_type: str) -> ImageFacts:
    return await anyio.to_thread.run_sync(inspect_image, data, max_pixels, content_type)
