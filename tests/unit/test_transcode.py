"""Transcode settings, ffmpeg's -progress lines, rendition keys and quality-bound signed URLs."""

from __future__ import annotations

import pytest

from app.blobstore import check_key
from app.config import ConfigError, settings_from_env
from app.domain.media.transcode.ffmpeg import percent
from app.domain.media.transcode.renditions import derived_keys, poster_key, rendition_key
from app.domain.shared.signing import Link, StreamSigner
from app.errors import Forbidden


def test_transcode_defaults_and_overrides() -> None:
    defaults = settings_from_env({})
    assert defaults.transcode_concurrency == 1
    assert defaults.transcode_renditions == (360, 720)
    settings = settings_from_env(
        {
            "TRANSCODE_CONCURRENCY": "0",
            "TRANSCODE_RENDITIONS": "720p, 240",
            "TRANSCODE_TIMEOUT": "600",
            "TRANSCODE_LEASE": "5",
            "TRANSCODE_REALTIME": "1",
            "FFMPEG_PATH": "/opt/ffmpeg/bin/ffmpeg",
        }
    )
    assert settings.transcode_concurrency == 0
    assert settings.transcode_renditions == (240, 720)
    assert settings.transcode_timeout_seconds == 600
    assert settings.transcode_lease_seconds == 5
    assert settings.transcode_realtime
    assert settings.ffmpeg_path == "/opt/ffmpeg/bin/ffmpeg"
    assert settings_from_env({"TRANSCODE_RENDITIONS": ""}).transcode_renditions == ()


def test_bad_transcode_settings_name_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_env({"TRANSCODE_RENDITIONS": "360,999", "TRANSCODE_LEASE": "1"})
    assert caught.value.problems == [
        "TRANSCODE_RENDITIONS: '999' is not one of 144, 240, 360, 480, 720, 1080",
        "TRANSCODE_LEASE: must be between 2 and 3600, got 1",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"out_time_us=500000\n", 25),
        (b"out_time_us=0\n", 0),
        (b"out_time_us=N/A\n", None),
        (b"out_time_us=-40000\n", 0),
        (b"out_time_us=9000000\n", 99),  # never 100 before ffmpeg says it is done
        (b"progress=end\n", 100),
        (b"progress=continue\n", None),
        (b"frame=12\n", None),
    ],
)
def test_progress_lines(line: bytes, expected: int | None) -> None:
    assert percent(line, 2.0) == expected


def test_progress_without_a_duration_is_unknown() -> None:
    assert percent(b"out_time_us=500000", None) is None


def test_rendition_keys_sit_beside_the_original_and_are_valid_keys() -> None:
    source = "videos/0b4c1e5e-9d7c-4a8e-9f55-0c0e8f6c1a2b"
    assert rendition_key(source, 360) == f"{source}.360p.mp4"
    assert poster_key(source) == f"{source}.poster.jpg"
    keys = derived_keys(source)
    assert len(keys) == len(set(keys)) == 7
    assert all(check_key(key) == key for key in keys)


def test_signed_urls_bind_the_quality() -> None:
    signer = StreamSigner("k" * 40, 3600)
    query, _ = signer.sign(7, 3, key="videos/k", now=1000.0, quality="360p")
    params = dict(part.split("=", 1) for part in query.split("&"))
    link = Link(params["uid"], params["exp"], params["sig"])
    assert signer.verify(7, link, key="videos/k", now=1000.0, quality="360p") == 3
    for other in ("original", "720p", "poster"):
        with pytest.raises(Forbidden):
            signer.verify(7, link, key="videos/k", now=1000.0, quality=other)
    original, _ = signer.sign(7, 3, key="videos/k", now=1000.0)
    assert original != query
    params = dict(part.split("=", 1) for part in original.split("&"))
    assert (
        signer.verify(7, Link(params["uid"], params["exp"], params["sig"]), key="videos/k", now=1000.0) == 3
    )
