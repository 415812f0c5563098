"""Subtitle tracks as the catalog shows them: loaded per page of videos, and signed per viewer.

A track's URL is signed like a stream URL (app/domain/shared/signing.py) for the video, the viewer and
the track (`subtitle-<id>` where a stream names its quality), bound to the track's own blob key, so
a link only ever serves the file it was made for and every request still checks the viewer may watch.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models.media import Subtitle
from app.domain.media.schemas import SubtitleInfo, SubtitleKind, SubtitleOut, SubtitleSource
from app.domain.shared.signing import StreamSigner

KINDS: dict[str, SubtitleKind] = {"subtitles": "subtitles", "captions": "captions"}
SOURCES: dict[str, SubtitleSource] = {"webvtt": "webvtt", "srt": "srt"}


def signed_as(subtitle_id: int) -> str:
    """What a track's link is signed for, in place of a stream's quality ("360p", "poster")."""
    return f"subtitle-{subtitle_id}"


def subtitle_path(video_id: int, subtitle_id: int) -> str:
    return f"/api/v1/videos/{video_id}/subtitles/{subtitle_id}"


def subtitle_info(row: Subtitle) -> SubtitleInfo:
    return SubtitleInfo(
        id=row.id,
        video_id=row.video_id,
        label=row.label,
        language=row.language,
        kind=KINDS.get(row.kind, "subtitles"),
        source_format=SOURCES.get(row.source_format, "webvtt"),
        cue_count=row.cue_count,
        size=row.size,
        uploader_id=row.uploader_id,
        created_at=row.created_at,
    )


def subtitle_out(signer: StreamSigner, row: Subtitle, viewer_id: int) -> SubtitleOut:
    query, _ = signer.sign(row.video_id, viewer_id, key=row.blob_key, quality=signed_as(row.id))
    info = subtitle_info(row)
    return SubtitleOut(
        **{field: getattr(info, field) for field in SubtitleInfo.__struct_fields__},
        url=f"{subtitle_path(row.video_id, row.id)}?{query}",
    )


async def load_subtitles(db: AsyncSession, video_ids: Iterable[int]) -> dict[int, list[Subtitle]]:
    """The tracks of these videos, in the order they were added (one query for a whole page)."""
    found: dict[int, list[Subtitle]] = {video_id: [] for video_id in video_ids}
    if not found:
        return found
    rows = await db.scalars(select(Subtitle).where(Subtitle.video_id.in_(list(found))).order_by(Subtitle.id))
    for row in rows:
        found[row.video_id].append(row)
    return found
