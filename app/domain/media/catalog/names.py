"""Display names of videos: the client's file name, sanitized. Never used as a storage key.

A name is shown in lists, sent in `Content-Disposition` and used by the seed's `/api/stream/{name}`,
so it keeps no folders, no control or bidi-override characters (`evil\u202emp4.exe`), no leading
dots and no surrounding blanks.
"""

from __future__ import annotations

import re
import unicodedata

from app.db.models.media import VIDEO_NAME_MAX

DEFAULT_NAME = "video"
MAX_EXTENSION = 10
_SEPARATORS = re.compile(r"[/\\]")


def display_name(filename: str | None) -> str:
    """The last path segment of `filename` (either separator), cleaned; "video" when nothing is left."""
    return cleaned_name(filename) or DEFAULT_NAME


def cleaned_name(filename: str | None) -> str:
    """The last path segment of `filename` (either separator), cleaned; empty when nothing is left."""
    name = unicodedata.normalize("NFC", filename or "")
    name = _SEPARATORS.split(name)[-1]
    # Category C: control, format (bidi overrides, zero-width), surrogate, private use, unassigned.
    name = "".join(char for char in name if not unicodedata.category(char).startswith("C"))
    name = " ".join(name.split()).strip(" .")
    return _fit(*_split(name)) if name else ""


def numbered(name: str, number: int) -> str:
    """`clip (2).mp4` for `clip.mp4`: the name a clashing upload gets."""
    stem, extension = _split(name)
    return _fit(f"{stem} ({number})" if stem else f"({number})", extension, keep_tail=len(f" ({number})"))


def _split(name: str) -> tuple[str, str]:
    stem, dot, extension = name.rpartition(".")
    if dot and stem and 0 < len(extension) <= MAX_EXTENSION:
        return stem, "." + extension
    return name, ""


def _fit(stem: str, extension: str, keep_tail: int = 0) -> str:
    """Shorten the stem (never the extension, nor its last `keep_tail` characters) to fit the column."""
    room = VIDEO_NAME_MAX - len(extension)
    if len(stem) > room:
        tail = stem[len(stem) - keep_tail :] if keep_tail else ""
        stem = stem[: room - len(tail)].rstrip(" .") + tail
    return stem + extension
