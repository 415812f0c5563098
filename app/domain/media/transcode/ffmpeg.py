"""ffprobe and ffmpeg as asyncio subprocesses: probe a file, make a rendition (with progress), a poster.

Nothing here blocks the event loop or touches the database: the transcode job (renditions.py) feeds
it local files and decides what to do with the results. A cancelled call kills its ffmpeg.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec

ERROR_TAIL = 400  # characters of ffmpeg's stderr kept in a job's error
POSTER_AT = 0.1  # a poster frame from 10 % into the video


CANNOT_CONVERT = "this server cannot convert videos"
UNREADABLE = "not a video this server can read"
CONVERSION_FAILED = "the conversion failed"


class MediaToolError(Exception):
    """ffmpeg or ffprobe failed. `permanent`: trying again cannot help (not a video, no ffmpeg).

    The message is for the operator's log (tool output, server paths); `reason` is what members see."""

    def __init__(self, message: str, *, permanent: bool = False, reason: str = CONVERSION_FAILED) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.reason = reason


class _Stream(msgspec.Struct):
    codec_type: str = ""
    codec_name: str = ""
    width: int = 0
    height: int = 0


class _Format(msgspec.Struct):
    duration: str = ""
    bit_rate: str = ""


class _Probe(msgspec.Struct):
    streams: list[_Stream] = []
    format: _Format = msgspec.field(default_factory=_Format)


class Probe(msgspec.Struct, frozen=True, kw_only=True):
    duration: float | None
    width: int
    height: int
    bitrate: int | None
    video_codec: str
    audio_codec: str | None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def tool_missing(path: str) -> str | None:
    """Why `path` (ffmpeg or ffprobe) cannot run, or None when it can."""
    return None if shutil.which(path) else f"{path} is not installed (or not executable)"


async def _spawn(args: list[str]) -> asyncio.subprocess.Process:
    missing = tool_missing(args[0])
    if missing:
        raise MediaToolError(missing, permanent=True, reason=CANNOT_CONVERT)
    return await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Out of the server's process group: a SIGTERM to the group (Ctrl-C, systemd) would make
        # ffmpeg fail the job before the runner hands it back. The runner kills it when it stops.
        start_new_session=True,
    )


async def _run(args: list[str]) -> tuple[bytes, bytes]:
    process = await _spawn(args)
    try:
        out, err = await process.communicate()
    finally:
        await _kill(process)
    if process.returncode != 0:
        raise MediaToolError(_tail(err), permanent=True, reason=UNREADABLE)
    return out, err


async def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _tail(err: bytes) -> str:
    text = err.decode("utf-8", "replace").strip()
    return text[-ERROR_TAIL:] or "ffmpeg failed without a message"


async def probe(ffprobe: str, path: Path) -> Probe:
    """Duration, size, codecs; MediaToolError(permanent) when it is no video ffmpeg can read."""
    out, _ = await _run(
        [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    )
    try:
        found = msgspec.json.decode(out, type=_Probe)
    except msgspec.DecodeError as error:
        raise MediaToolError(
            f"unreadable ffprobe output: {error}", permanent=True, reason=UNREADABLE
        ) from None
    video = next((s for s in found.streams if s.codec_type == "video" and s.height > 0), None)
    if video is None:
        raise MediaToolError("no video stream found", permanent=True, reason="no video stream found")
    audio = next((s for s in found.streams if s.codec_type == "audio"), None)
    bitrate = _number(found.format.bit_rate)
    return Probe(
        duration=_number(found.format.duration),
        width=video.width,
        height=video.height,
        bitrate=int(bitrate) if bitrate is not None else None,
        video_codec=video.codec_name[:32],
        audio_codec=audio.codec_name[:32] if audio else None,
    )


def rendition_args(
    ffmpeg: str, source: Path, target: Path, height: int, *, audio: bool, realtime: bool
) -> list[str]:
    """H.264/AAC MP4 `height` lines high (width keeps the aspect, even), moov atom first."""
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-y",
        *(["-re"] if realtime else []),
        "-i",
        str(source),
        "-map",
        "0:v:0",
        *(
            ["-map", "0:a:0?", "-c:a", "aac", "-b:a", "96k" if height <= 360 else "128k"]
            if audio
            else ["-an"]
        ),
        "-vf",
        f"scale=-2:{height}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        "-progress",
        "pipe:1",
        "-f",
        "mp4",
        str(target),
    ]


def percent(line: bytes, duration: float | None) -> int | None:
    """The percentage an `-progress` line reports (`out_time_us=...`), if it reports one."""
    key, _, value = line.strip().partition(b"=")
    if key == b"progress" and value == b"end":
        return 100
    if key != b"out_time_us" or not duration:
        return None
    try:
        done = int(value) / 1_000_000
    except ValueError:
        return None
    return max(0, min(99, int(done * 100 / duration)))


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while line := await stream.readline():
        yield line


async def transcode(
    args: list[str], duration: float | None, on_progress: Callable[[int], Awaitable[None]]
) -> None:
    """Run an ffmpeg built by `rendition_args`, reporting each new percentage. Cancelling kills it."""
    process = await _spawn(args)
    stdout, stderr = process.stdout, process.stderr
    if stdout is None or stderr is None:  # pragma: no cover -- both are PIPE above
        raise MediaToolError("ffmpeg started without pipes")
    errors = asyncio.ensure_future(stderr.read())
    try:
        last = -1
        async for line in _lines(stdout):
            value = percent(line, duration)
            if value is not None and value != last:
                last = value
                await on_progress(value)
        await process.wait()
        err = await errors
    finally:
        errors.cancel()
        await _kill(process)
    if process.returncode != 0:
        raise MediaToolError(_tail(err))


async def poster(ffmpeg: str, source: Path, target: Path, duration: float | None, height: int) -> None:
    """A JPEG of the frame at POSTER_AT of the video, at most `height` lines high."""
    at = (duration or 0) * POSTER_AT
    await _run(
        [
            ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-y",
            "-ss",
            f"{at:.3f}",
            "-i",
            str(source),
            "-frames:v",
            "1",
            "-vf",
            f"scale=-2:'min({height},ih)'",
            "-q:v",
            "3",
            "-f",
            "image2",
            str(target),
        ]
    )
