"""ffmpeg for the transcode tests: generated test videos and ffprobe. Without ffmpeg the tests skip
(fail under HUDDLE_REQUIRE_SERVICES=1, as CI installs Debian's ffmpeg)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.services import unavailable


def require_ffmpeg() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (apt-get install ffmpeg)")


def make_video(path: Path, *, seconds: int, width: int, height: int) -> Path:
    """An H.264/AAC MP4 of ffmpeg's test pattern and a sine tone."""
    require_ffmpeg()
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size={width}x{height}:rate=25:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-movflags",
            "+faststart",
            str(path),
        ],
        check=True,
        timeout=120,
    )
    return path


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    found: dict[str, Any] = json.loads(out)
    return found


def stream_of(found: dict[str, Any], kind: str) -> dict[str, Any]:
    stream: dict[str, Any] = next(s for s in found["streams"] if s["codec_type"] == kind)
    return stream
