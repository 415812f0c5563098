"""Subtitle tracks of a video: `/api/v1/videos/{video_id}/subtitles[/{subtitle_id}]`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Request, Response, delete, get, post, route
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from app.db.models.media import SUBTITLE_LABEL_MAX, SUBTITLE_LANGUAGE_MAX
from app.domain.accounts.deps import Accounts, Authenticated
from app.domain.media.catalog.controllers import BEARER_OR_SIGNED, Exp, Sig, Uid, stream_responses
from app.domain.media.deps import Subtitles
from app.domain.media.schemas import SubtitleOut
from app.domain.media.subtitles.services import TrackMeta
from app.domain.media.uploads.openapi import SubtitleUploadOperation
from app.domain.params import Id
from app.domain.shared.signing import Link
from app.web.responses import BEARER, error_responses
from app.web.routes import area

TAGS = ["videos"]
Label = Annotated[
    str | None,
    Parameter(
        min_length=1,
        max_length=SUBTITLE_LABEL_MAX,
        description="What the player's menu shows (default: the file's name, else the language); "
        "a label the video already has gets a number",
    ),
]
Language = Annotated[
    str | None,
    Parameter(
        min_length=1,
        max_length=SUBTITLE_LANGUAGE_MAX,
        description="BCP 47 language tag (`en`, `pt-BR`, `zh-Hant`): required, here or as a form field",
    ),
]
Kind = Annotated[
    Literal["subtitles", "captions"] | None,
    Parameter(description="`subtitles` (default: a translation) or `captions` (with sounds, for the deaf)"),
]


@post(
    "/api/v1/videos/{video_id:int}/subtitles",
    security=BEARER,
    status_code=HTTP_201_CREATED,
    summary="Add a subtitle track (WebVTT, or SRT converted to WebVTT; SUBTITLE_MAX_BYTES): the video's "
    "uploader or a group admin",
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 507),
    request_max_body_size=None,  # the upload enforces SUBTITLE_MAX_BYTES itself, while reading
    operation_class=SubtitleUploadOperation,
)
async def add_subtitle(
    request: Request[Any, Any, Any],
    video_id: Id,
    principal: Authenticated,
    subtitles: Subtitles,
    label: Label = None,
    language: Language = None,
    kind: Kind = None,
) -> SubtitleOut:
    meta = TrackMeta(label=label, language=language, kind=kind)
    return await subtitles.add(request, principal.user_id, video_id, meta)


@get(
    "/api/v1/videos/{video_id:int}/subtitles",
    security=BEARER,
    summary="A video's subtitle tracks (also in the video's `subtitles`), each with a signed `url`",
    responses=error_responses(400, 401, 404),
)
async def list_subtitles(video_id: Id, principal: Authenticated, subtitles: Subtitles) -> list[SubtitleOut]:
    return await subtitles.list(principal.user_id, video_id)


@route(
    "/api/v1/videos/{video_id:int}/subtitles/{subtitle_id:int}",
    http_method=["GET", "HEAD"],
    security=BEARER_OR_SIGNED,
    summary="A subtitle track as WebVTT (text/vtt); a bearer token or the track's signed url",
    responses=stream_responses("text/vtt"),
)
async def subtitle_file(
    request: Request[Any, Any, Any],
    video_id: Id,
    subtitle_id: Id,
    accounts: Accounts,
    subtitles: Subtitles,
    uid: Uid = None,
    exp: Exp = None,
    sig: Sig = None,
) -> Response[bytes]:
    return await subtitles.serve(request, accounts, video_id, subtitle_id, Link(uid, exp, sig))


@delete(
    "/api/v1/videos/{video_id:int}/subtitles/{subtitle_id:int}",
    security=BEARER,
    status_code=HTTP_204_NO_CONTENT,
    summary="Delete a subtitle track (the video's uploader or a group admin)",
    responses=error_responses(400, 401, 403, 404),
)
async def delete_subtitle(
    video_id: Id, subtitle_id: Id, principal: Authenticated, subtitles: Subtitles
) -> None:
    await subtitles.delete(principal.user_id, video_id, subtitle_id)


# One area: the track file (bearer or signed link) shares its path with the bearer-only delete.
route_handlers = [area(add_subtitle, list_subtitles, subtitle_file, delete_subtitle, tags=TAGS)]
