"""A player's ranges by signed URL: the light path nearly every byte of video takes.

A player asks a range at a time with the signed stream URL the API gave it. Each request is authorized
(the link's signature for that quality of that file, its user's membership), and the worker nearly
always knows the answer already (the grant cache, app/domain/grants.py), so what a
request costs is mostly what surrounds that check. `SignedStreams` is made once per worker (it is the
Runtime's `streams`) and answers such a request; the stream route (`MediaService.stream`) and the
server's player lane (app/server/player_lane.py) both ask it, so the decision is made in one place.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.blobstore import BlobStore
from app.config import Settings
from app.db.engine import autocommit
from app.db.models.accounts import User
from app.db.models.groups import Membership
from app.db.models.media import JOB_DONE, Rendition, Video
from app.domain.grants import Blob, Grants, stream_grant
from app.domain.shared.signing import ORIGINAL, Link, StreamSigner
from app.streaming.offload import stream_offload
from app.streaming.response import stored_response

VIDEO_FILE_MISSING = "The video file is missing from storage"


def watchable(user_id: int) -> Select[Video]:
    """Videos in the groups of an active user."""
    return (
        select(Video)
        .join(Membership, Membership.group_id == Video.group_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.user_id == user_id, User.is_active)
    )


def rendition_name(name: str, quality: str) -> str:
    """The download name of a rendition: "film (360p).mp4" for "film.mkv"."""
    return f"{name.rsplit('.', 1)[0]} ({quality}).mp4"


class SignedStreams:
    """The signer of stream URLs, the configured offload and the light path, made once per worker."""

    def __init__(self, settings: Settings, engine: AsyncEngine, store: BlobStore, grants: Grants) -> None:
        self.signer = StreamSigner(settings.secret_key, settings.stream_url_ttl_seconds)
        self.offload = stream_offload(settings, store)
        self.store = store
        self._engine = engine
        self._grants = grants

    async def respond(
        self, request: Request[Any, Any, Any], video_id: int, link: Link, quality: str
    ) -> Response[bytes] | None:
        """The answer to a signed link for `quality` (the original or a rendition, not the poster) of a
        video its user may watch; None when the user may not (or the rendition is not ready): the
        caller's full lookup says why. 403 when the link does not sign this file and quality."""
        user_id = self.signer.claimed_user(link)
        blob = await self.watchable_blob(user_id, video_id, quality)
        if blob is None:
            return None
        key, name, source = blob
        self.signer.verify(video_id, link, key=source, quality=quality)
        return await stored_response(
            request, self.store, key, missing=VIDEO_FILE_MISSING, filename=name, offload=self.offload
        )

    async def watchable_blob(self, user_id: int, video_id: int, quality: str) -> tuple[str, str, str] | None:
        """The blob key, download name and the original's blob key (which links are bound to) of a
        quality (the original or a finished rendition) of a video this user may watch. A yes is
        remembered for a few seconds (the grant cache), and asked as one statement on an autocommit
        connection (no transaction round trips, no ORM objects)."""
        grants = self._grants
        key = stream_grant(user_id, video_id, quality)
        remembered: Blob | None = grants.get(key)
        if remembered is not None:
            return remembered
        asked = grants.generation
        videos = watchable(user_id).where(Video.id == video_id)
        if quality == ORIGINAL:
            query = videos.with_only_columns(Video.blob_key, Video.name, Video.blob_key.label("source"))
        else:
            done = (
                (Rendition.video_id == Video.id)
                & (Rendition.quality == quality)
                & (Rendition.state == JOB_DONE)
            )
            query = videos.join(Rendition, done).with_only_columns(
                Rendition.blob_key, Video.name, Video.blob_key.label("source")
            )
        async with autocommit(self._engine) as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        name = row.name if quality == ORIGINAL else rendition_name(row.name, quality)
        blob = row.blob_key, name, row.source
        grants.put(key, blob, asked=asked)
        return blob
