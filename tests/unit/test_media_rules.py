"""Pure rules of the video library: display names, magic bytes, signed stream URLs."""

from __future__ import annotations

import pytest

from app.db.models.media import VIDEO_NAME_MAX
from app.domain.media.catalog.names import display_name, numbered
from app.domain.shared.signing import EXPIRY_STEP, AttachmentSigner, Link, StreamSigner
from app.domain.shared.sniff import AVI, MATROSKA, MP4, OGG, QUICKTIME, WEBM, sniff
from app.errors import Forbidden

SECRET = "s" * 40


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\Videos\\clip.mp4", "clip.mp4"),
        ("dir/", "video"),
        ("", "video"),
        (None, "video"),
        ("....", "video"),
        (".hidden.mp4", "hidden.mp4"),
        ("tab\tand\nnewline\r.mp4", "tabandnewline.mp4"),
        ("nul\x00byte.mp4", "nulbyte.mp4"),
        ("zero\u200bwidth.mp4", "zerowidth.mp4"),
        ("evil\u202egnp.exe", "evilgnp.exe"),
        ("  lots   of   space  ", "lots of space"),
        ("Cafe\u0301.mp4", "Café.mp4"),  # NFC: one code point for é
        ("name.with.dots.webm", "name.with.dots.webm"),
    ],
)
def test_display_names(raw: str | None, shown: str) -> None:
    assert display_name(raw) == shown


def test_long_names_keep_their_extension() -> None:
    name = display_name("a" * 1000 + ".mp4")
    assert len(name) == VIDEO_NAME_MAX
    assert name.endswith("aaa.mp4")
    numbered_name = numbered(name, 12)
    assert len(numbered_name) == VIDEO_NAME_MAX
    assert numbered_name.endswith(" (12).mp4")


@pytest.mark.parametrize(
    ("name", "number", "result"),
    [("clip.mp4", 2, "clip (2).mp4"), ("clip", 3, "clip (3)"), ("archive.tar.gz", 2, "archive.tar (2).gz")],
)
def test_numbered(name: str, number: int, result: str) -> None:
    assert numbered(name, number) == result


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", MP4),
        (b"\x00\x00\x00\x14ftypmp42", MP4),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", QUICKTIME),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", WEBM),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", MATROSKA),
        (b"OggS\x00\x02" + b"\x00" * 20, OGG),
        (b"RIFF\x24\x00\x00\x00AVI LIST", AVI),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),  # RIFF, but audio
        (b"<!doctype html><html>", None),
        (b"\x89PNG\r\n\x1a\n", None),
        (b"ftyp", None),  # `ftyp` at offset 0 is not a box header
        (b"", None),
    ],
)
def test_sniff(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


def _link(query: str) -> Link:
    params = dict(pair.split("=", 1) for pair in query.split("&"))
    return Link(params["uid"], params["exp"], params["sig"])


KEY = "videos/2d7c1f0e-8a43-4f8e-9a59-0c3cf1a3b6de"


def test_signed_links_bind_video_user_and_expiry() -> None:
    signer = StreamSigner(SECRET, 3600)
    query, expires = signer.sign(7, 42, key=KEY, now=1_000_000)
    assert expires % EXPIRY_STEP == 0
    assert 1_000_000 + 3600 <= expires < 1_000_000 + 3600 + EXPIRY_STEP
    link = _link(query)
    assert signer.verify(7, link, key=KEY, now=1_000_000) == 42
    for video_id, candidate, moment in [
        (8, link, 1_000_000),  # another video
        (7, link._replace(uid="43"), 1_000_000),  # another user
        (7, link._replace(exp=str(expires + 1)), 1_000_000),  # a longer life
        (7, link, expires),  # expired
        (7, link._replace(sig=link.sig[:-1] if link.sig else ""), 1_000_000),
        (7, Link(None, None, None), 1_000_000),
        (7, link._replace(exp="1" * 25), 1_000_000),
    ]:
        with pytest.raises(Forbidden):
            signer.verify(video_id, candidate, key=KEY, now=moment)
    # Another secret, another signature.
    with pytest.raises(Forbidden):
        StreamSigner("t" * 40, 3600).verify(7, link, key=KEY, now=1_000_000)


def test_signed_links_bind_the_file_not_only_its_id() -> None:
    """A link made for video 7 stored under one key does not serve a later video 7 under another
    (an id a database handed out again after a delete)."""
    stream = StreamSigner(SECRET, 3600)
    link = _link(stream.sign(7, 42, key=KEY, now=1_000_000)[0])
    with pytest.raises(Forbidden):
        stream.verify(7, link, key="videos/another-file", now=1_000_000)
    files = AttachmentSigner(SECRET, 3600)
    query, _ = files.sign(7, "file", key="attachments/first", now=1_000_000)
    exp, sig = (part.split("=", 1)[1] for part in query.split("&"))
    files.verify(7, "file", exp, sig, key="attachments/first", now=1_000_000)
    with pytest.raises(Forbidden):
        files.verify(7, "file", exp, sig, key="attachments/second", now=1_000_000)
