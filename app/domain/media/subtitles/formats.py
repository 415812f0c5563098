"""Subtitle files: WebVTT, or SRT converted to WebVTT, judged by content and rewritten clean.

Pure functions, no I/O. `to_webvtt(data)` takes the uploaded bytes and returns a WebVTT document
built from scratch out of what was understood, never a copy of the input:

- **What it is** is decided by content, never by the name: `WEBVTT` at the start (after an optional
  UTF-8 BOM) is WebVTT; a first block with an SRT timing line (`00:00:01,000 --> 00:00:02,000`,
  optionally after its sequence number) is SRT. Anything else, binary (NUL bytes) included, is
  `NotSubtitles` (415).
- **Text** must be UTF-8 (a BOM is dropped); anything else is `InvalidSubtitles` (422), as are more
  than MAX_CUES cues, a line longer than MAX_LINE_CHARS and a file without a single valid cue.
- **Blocks.** Cues keep their timing (normalized to `HH:MM:SS.mmm`; SRT's comma becomes a dot) and
  the cue settings WebVTT defines, re-emitted from parsed values. Sequence numbers and cue
  identifiers, `NOTE`, `STYLE` and `REGION` blocks are dropped (styles and regions could only ever
  restyle or move text; nothing here needs them). A malformed cue is skipped, as browsers do.
- **Cue text** keeps WebVTT's own markup only: `<b>`, `<i>`, `<u>`, `<c.class>`, `<v Name>`,
  `<lang xx>`, `<ruby>`, `<rt>` and timestamp tags, rebuilt from their parsed parts (class names
  limited to letters, digits, `-` and `_`; annotations escaped). Every other tag (`<script>`,
  `<img onerror=...>`, SRT's `<font color=...>`) is removed, its text kept; a `<` that opens no tag
  becomes `&lt;`. Character references WebVTT knows stay as written (`&lt;script&gt;` stays text);
  any other `&` is escaped. SRT's `{\\an8}` positioning codes are removed. Control characters go;
  `-->` inside text (which would end the cue) is escaped.

The output is text that every WebVTT parser reads as exactly these cues, and that holds no markup a
browser would treat as anything but cue text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_CUES = 20_000  # a three-hour film has some 3,000
MAX_LINE_CHARS = 1_000  # characters on one line of the file
MAX_CUE_LINES = 20  # lines of text in one cue; more are dropped
MAX_ANNOTATION = 100  # characters of a <v Name> or <lang tag> annotation
MAX_CLASSES = 8  # classes on one tag (`<c.a.b.c>`)
MAX_HOURS_DIGITS = 5

SubtitleFormat = Literal["webvtt", "srt"]
VTT_CONTENT_TYPE = "text/vtt; charset=utf-8"


class SubtitleError(ValueError):
    """Why a file was refused; `code` is the API's error code, the message is safe to show."""

    code = "invalid_subtitles"


class NotSubtitles(SubtitleError):
    """Not a subtitle format this server reads (415)."""

    code = "unsupported_subtitle_format"


class InvalidSubtitles(SubtitleError):
    """A subtitle file that cannot be accepted as it is (422)."""

    code = "invalid_subtitles"


@dataclass(frozen=True)
class Cue:
    start: int  # milliseconds
    end: int
    settings: str  # normalized, "" when none
    lines: tuple[str, ...]  # sanitized cue text, one entry per line, none empty


@dataclass(frozen=True)
class Converted:
    text: str  # the WebVTT document
    source: SubtitleFormat
    cues: int


# -- timestamps ------------------------------------------------------------------------------------

_VTT_TIME = re.compile(rf"(?:(\d{{2,{MAX_HOURS_DIGITS}}}):)?([0-5]\d):([0-5]\d)\.(\d{{3}})")
# SRT in the wild: one-digit hours, a dot instead of the comma, fewer millisecond digits.
_SRT_TIME = re.compile(rf"(\d{{1,{MAX_HOURS_DIGITS}}}):([0-5]?\d):([0-5]?\d)[,.](\d{{1,3}})")
_ARROW = re.compile(r"[ \t]+-->[ \t]+")


def _millis(hours: str | None, minutes: str, seconds: str, fraction: str) -> int:
    return ((int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(fraction.ljust(3, "0"))


def format_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _vtt_time(text: str) -> int | None:
    match = _VTT_TIME.fullmatch(text)
    return None if match is None else _millis(*match.groups())


def _srt_time(text: str) -> int | None:
    match = _SRT_TIME.fullmatch(text)
    return None if match is None else _millis(*match.groups())


# -- cue settings ------------------------------------------------------------------------------------

_PERCENT = r"(?:\d{1,3}(?:\.\d{1,4})?)%"
_SETTINGS = {
    "vertical": re.compile(r"rl|lr"),
    "line": re.compile(rf"(?:-?\d{{1,4}}|{_PERCENT})(?:,(?:start|center|end))?"),
    "position": re.compile(rf"{_PERCENT}(?:,(?:line-left|center|line-right|auto))?|auto"),
    "size": re.compile(_PERCENT),
    "align": re.compile(r"start|center|end|left|right"),
}


def _settings(text: str) -> str:
    """The cue settings WebVTT defines, each at most once and well-formed; the rest dropped (regions
    too, since REGION blocks are)."""
    kept: dict[str, str] = {}
    for token in text.split():
        name, colon, value = token.partition(":")
        pattern = _SETTINGS.get(name)
        if colon and pattern is not None and name not in kept and pattern.fullmatch(value):
            if any(float(p.rstrip("%")) > 100 for p in re.findall(r"[\d.]+%", value)):
                continue
            kept[name] = value
    return " ".join(f"{name}:{value}" for name, value in kept.items())


# -- cue text ------------------------------------------------------------------------------------

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TAG = re.compile(r"<([^<>]*)>")
_CLASS = re.compile(r"[A-Za-z0-9_-]{1,32}")
_ENTITY = re.compile(r"&(?:amp|lt|gt|nbsp|lrm|rlm|quot|apos|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
_ASS_CODE = re.compile(r"\{\\[^{}]*\}")  # SRT files carry `{\an8}`, `{\i1}` from ASS
_SPANS = frozenset({"c", "i", "b", "u", "ruby", "rt", "v", "lang"})
_ANNOTATED = frozenset({"v", "lang"})


def _escape(text: str) -> str:
    """Text outside tags: `<` and `>` escaped, `&` kept only where it starts a known reference."""
    out: list[str] = []
    position = 0
    for match in _ENTITY.finditer(text):
        out.append(_escape_plain(text[position : match.start()]))
        out.append(match.group(0))
        position = match.end()
    out.append(_escape_plain(text[position:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _annotation(text: str) -> str:
    cleaned = " ".join(text.split())[:MAX_ANNOTATION]
    return _escape_plain(cleaned)


def _tag(inside: str) -> str:
    """A tag WebVTT defines, rebuilt from its parts; "" for any other tag (dropped, text kept)."""
    if inside.startswith("/"):
        name = inside[1:].strip().split(".")[0].lower()
        return f"</{name}>" if name in _SPANS else ""
    time = _vtt_time(inside.strip())
    if time is not None:
        return f"<{format_time(time)}>"
    head, _, annotation = inside.replace("\t", " ").partition(" ")
    name, *classes = head.split(".")
    name = name.lower()
    if name not in _SPANS:
        return ""
    kept = [c for c in classes if _CLASS.fullmatch(c)][:MAX_CLASSES]
    tag = name + "".join(f".{c}" for c in kept)
    if name in _ANNOTATED:
        label = _annotation(annotation)
        if name == "lang" and not label:
            return ""  # a <lang> without a language is meaningless; its closing tag is harmless
        if label:
            tag += f" {label}"
    return f"<{tag}>"


def sanitize_line(line: str) -> str:
    """One line of cue text with only WebVTT's markup, rebuilt; everything else as plain text."""
    line = _CONTROLS.sub("", line.replace("\t", " "))
    out: list[str] = []
    position = 0
    for match in _TAG.finditer(line):
        inside = match.group(1)
        if not inside[:1].isascii() or not (inside[:1].isalnum() or inside[:1] == "/"):
            continue  # "1 < 2 > 0": no tag in HTML's eyes either; escaped as text below
        out.append(_escape(line[position : match.start()]))
        out.append(_tag(inside))
        position = match.end()
    out.append(_escape(line[position:]))
    # "-->" in text would start a new cue for every WebVTT parser; after escaping it reads "--&gt;".
    return "".join(out).strip()


def _cue_lines(lines: list[str], *, srt: bool) -> tuple[str, ...]:
    kept: list[str] = []
    for line in lines:
        cleaned = sanitize_line(_ASS_CODE.sub("", line) if srt else line)
        if cleaned and len(kept) < MAX_CUE_LINES:
            kept.append(cleaned)
    return tuple(kept)


# -- documents ------------------------------------------------------------------------------------

_BOM = b"\xef\xbb\xbf"


def decode(data: bytes) -> str:
    """UTF-8 text (BOM dropped, newlines normalized); NotSubtitles for binary, InvalidSubtitles for
    other encodings."""
    data = data.removeprefix(_BOM)
    if b"\x00" in data:
        raise NotSubtitles("This is not a subtitle file: it holds binary data (send WebVTT or SRT)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidSubtitles(
            f"Subtitle files must be UTF-8; byte {error.start} is not (save the file as UTF-8 and try again)"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def detect(text: str) -> SubtitleFormat:
    """WebVTT or SRT, by content; NotSubtitles otherwise."""
    first, _, _ = text.partition("\n")
    if first == "WEBVTT" or (first.startswith("WEBVTT") and first[6] in " \t"):
        return "webvtt"
    lines = text.lstrip().split("\n", 2)
    candidates = lines[:2] if lines and lines[0].strip().isdigit() else lines[:1]
    if candidates and _srt_timing(candidates[-1]) is not None:
        return "srt"
    raise NotSubtitles("This is not a subtitle file this server reads: send WebVTT (.vtt) or SubRip (.srt)")


def _srt_timing(line: str) -> tuple[int, int] | None:
    parts = _ARROW.split(line.strip(), maxsplit=1)
    if len(parts) != 2:
        return None
    start = _srt_time(parts[0])
    end = _srt_time(parts[1].split()[0]) if parts[1].split() else None
    return None if start is None or end is None else (start, end)


def _vtt_timing(line: str) -> tuple[int, int, str] | None:
    parts = _ARROW.split(line.strip(), maxsplit=1)
    if len(parts) != 2:
        return None
    start = _vtt_time(parts[0])
    rest = parts[1].split(maxsplit=1)
    end = _vtt_time(rest[0]) if rest else None
    if start is None or end is None:
        return None
    return start, end, _settings(rest[1] if len(rest) > 1 else "")


def _blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.split("\n"):
        if len(line) > MAX_LINE_CHARS:
            raise InvalidSubtitles(f"A line of this subtitle file is longer than {MAX_LINE_CHARS} characters")
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _cue(block: list[str], *, srt: bool) -> Cue | None:
    """A block as a cue: an optional identifier (or SRT sequence number), the timing, the text."""
    timing_at = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
    if timing_at is None:
        return None
    if srt:
        times = _srt_timing(block[timing_at])
        timing = None if times is None else (*times, "")
    else:
        timing = _vtt_timing(block[timing_at])
    if timing is None:
        return None
    start, end, settings = timing
    if end <= start:
        return None
    body = block[timing_at + 1 :]
    if not srt:
        # In WebVTT a line holding "-->" ends the cue's text: what follows is another (broken) cue.
        body = body[: next((i for i, line in enumerate(body) if "-->" in line), len(body))]
    lines = _cue_lines(body, srt=srt)
    return Cue(start, end, settings, lines) if lines else None


def parse(text: str, source: SubtitleFormat) -> list[Cue]:
    blocks = _blocks(text)
    if source == "webvtt":
        # The header block ("WEBVTT" and header lines) is dropped; a cue right below the signature,
        # without the blank line, still counts (as the WebVTT parser reads it).
        header = blocks.pop(0)
        arrow = next((i for i, line in enumerate(header) if i and "-->" in line), None)
        if arrow is not None:
            blocks.insert(0, header[max(1, arrow - 1) :])
    cues: list[Cue] = []
    for block in blocks:
        if source == "webvtt" and re.match(r"(NOTE|STYLE|REGION)(\s|$)", block[0]) and "-->" not in block[0]:
            continue
        cue = _cue(block, srt=source == "srt")
        if cue is None:
            continue
        cues.append(cue)
        if len(cues) > MAX_CUES:
            raise InvalidSubtitles(f"Subtitle files are limited to {MAX_CUES} cues")
    if not cues:
        raise InvalidSubtitles("This subtitle file has no cue with a valid timing and some text")
    cues.sort(key=lambda cue: (cue.start, cue.end))  # stable: equal starts keep the file's order
    return cues


def render(cues: list[Cue]) -> str:
    out = ["WEBVTT", ""]
    for cue in cues:
        timing = f"{format_time(cue.start)} --> {format_time(cue.end)}"
        out.append(f"{timing} {cue.settings}" if cue.settings else timing)
        out.extend(cue.lines)
        out.append("")
    return "\n".join(out)


def to_webvtt(data: bytes) -> Converted:
    """The uploaded bytes as a clean WebVTT document (see the module's notes); raises NotSubtitles
    or InvalidSubtitles, and nothing else, whatever the bytes."""
    text = decode(data)
    source = detect(text)
    cues = parse(text, source)
    return Converted(text=render(cues), source=source, cues=len(cues))


# -- track metadata ------------------------------------------------------------------------------------

MAX_LANGUAGE_CHARS = 35  # RFC 5646 section 4.4.1: the length every implementation must handle
_LANGTAG = re.compile(
    r"""
    (?P<language>[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})
    (?:-(?P<script>[a-z]{4}))?
    (?:-(?P<region>[a-z]{2}|\d{3}))?
    (?P<variants>(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*)
    (?P<extensions>(?:-[a-wyz\d](?:-[a-z\d]{2,8})+)*)
    (?:-x(?:-[a-z\d]{1,8})+)?
    """,
    re.VERBOSE,
)
_PRIVATE_USE = re.compile(r"x(?:-[a-z\d]{1,8})+")


def language_tag(text: str) -> str | None:
    """A well-formed BCP 47 language tag (RFC 5646) in its conventional case (`pt-BR`, `zh-Hant-TW`,
    `sr-Latn`), or None. Grandfathered irregular tags (`i-klingon`) are not taken."""
    tag = text.strip().replace("_", "-").lower()
    if not tag or len(tag) > MAX_LANGUAGE_CHARS or not tag.isascii():
        return None
    if _PRIVATE_USE.fullmatch(tag):
        return tag
    match = _LANGTAG.fullmatch(tag)
    if match is None:
        return None
    subtags = tag.split("-")
    variants = [v for v in (match.group("variants") or "").split("-") if v]
    if len(set(variants)) != len(variants):
        return None  # RFC 5646 2.2.5: a variant appears once
    singletons = [s for s in subtags if len(s) == 1]
    if "x" in singletons:
        singletons = singletons[: singletons.index("x")]
    if len(set(singletons)) != len(singletons):
        return None  # 2.2.6: an extension singleton appears once
    out: list[str] = []
    extension = False  # from the first singleton on, subtags keep their (lower) case
    for index, subtag in enumerate(subtags):
        extension = extension or (index > 0 and len(subtag) == 1)
        if extension or index == 0:
            out.append(subtag)
        elif len(subtag) == 2 and subtag.isalpha():
            out.append(subtag.upper())  # region
        elif len(subtag) == 4 and subtag.isalpha() and match.group("script") == subtag:
            out.append(subtag.title())  # script
        else:
            out.append(subtag)
    return "-".join(out)
