"""Video catalog and streaming endpoints. Seed-000 paths are bound to the canonical handlers where the
shapes agree; `/api/stream/{video_name}` names a video instead of an id, so it has its own handler."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, delete, get, patch, post, route
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from app.domain.accounts.deps import Accounts, Authenticated
from app.domain.ids import MAX_ID
from app.domain.media.catalog.services import POSTER
from app.domain.media.deps import Forms, Media
from app.domain.media.schemas import QualityName, VideoOut, VideoPatch
from app.domain.media.uploads.openapi import FormUploadOperation, GroupUploadOperation
from app.domain.params import Id, Offset, PageLimit
from app.domain.shared.signing import Link
from app.web.responses import BEARER, error_responses
from app.web.routes import area

TAGS = ["videos"]
# A signed URL is an alternative to the bearer token, so the token is optional on stream routes.
BEARER_OR_SIGNED: list[dict[str, list[str]]] = [*BEARER, {}]
GroupFilter = Annotated[int | None, Parameter(ge=1, le=MAX_ID, description="Only this group's videos")]
Uid = Annotated[str | None, Parameter(description="Signed URL: the user it was issued to")]
Exp = Annotated[str | None, Parameter(description="Signed URL: expiry, unix seconds")]
Sig = Annotated[str | None, Parameter(description="Signed URL: signature")]
Quality = Annotated[
    QualityName,
    Parameter(
        description="`original` (the upload), or a rendition listed in the video's `qualities`; "
        "404 until it is done. A signed URL is valid for the quality it was issued for."
    ),
]


def stream_responses(media_type: str) -> dict[int, ResponseSpec]:
    """A stream's answers, documented as the bytes they are (`media_type`), not as JSON text."""

    def body(description: str) -> ResponseSpec:
        return ResponseSpec(
            data_container=bytes, media_type=media_type, generate_examples=False, description=description
        )

    return {
        200: body("The whole file"),
        206: body("Partial content: one range, or several as multipart/byteranges"),
        304: ResponseSpec(data_container=None, description="Not modified"),
        307: ResponseSpec(
            data_container=None,
            description="STREAM_OFFLOAD=azure-redirect: the bytes at a short-lived read-only URL of the "
            "blob store (`Location`); follow it with the same Range",
        ),
        **error_responses(401, 403, 404, 409, 416),
    }


@post(
    "/api/v1/groups/{group_id:int}/videos",
    status_code=HTTP_201_CREATED,
    summary="Upload a video to a group (multipart field `file`, streamed; MAX_UPLOAD_BYTES)",
    responses=error_responses(404, 409, 413, 415, 507),
    request_max_body_size=None,  # the upload enforces MAX_UPLOAD_BYTES itself, while streaming
    operation_class=GroupUploadOperation,
)
async def upload_video(
    request: Request[Any, Any, Any], group_id: Id, principal: Authenticated, forms: Forms
) -> VideoOut:
    return await forms.upload(request, principal.user_id, group_id)


@post(
    ["/api/v1/videos", "/api/upload"],
    status_code=HTTP_201_CREATED,
    summary="Upload a video (the seed's form): group_id as query parameter or form field before the file; "
    "without one, the caller's only group",
    responses=error_responses(404, 409, 413, 415, 507),
    request_max_body_size=None,
    operation_class=FormUploadOperation,
)
async def upload_form(
    request: Request[Any, Any, Any], principal: Authenticated, forms: Forms, group_id: GroupFilter = None
) -> VideoOut:
    return await forms.upload(request, principal.user_id, group_id, group_in_form=True)


@get(
    "/api/v1/groups/{group_id:int}/videos",
    summary="A group's videos, newest first",
    responses=error_responses(404),
)
async def list_group_videos(
    group_id: Id, principal: Authenticated, media: Media, limit: PageLimit = 100, offset: Offset = 0
) -> list[VideoOut]:
    return await media.list_group(principal.user_id, group_id, limit, offset)


@get(
    ["/api/v1/videos", "/api/videos"],
    summary="Every video the caller may watch (all of their groups), newest first",
)
async def list_videos(
    principal: Authenticated,
    media: Media,
    group_id: GroupFilter = None,
    limit: PageLimit = 100,
    offset: Offset = 0,
) -> list[VideoOut]:
    return await media.list_watchable(principal.user_id, group_id, limit, offset)


@get(
    "/api/v1/videos/{video_id:int}",
    summary="One video, with a fresh signed stream URL",
    responses=error_responses(404),
)
async def get_video(video_id: Id, principal: Authenticated, media: Media) -> VideoOut:
    return await media.get(principal.user_id, video_id)


@patch(
    "/api/v1/videos/{video_id:int}",
    summary="Rename a video (uploader or group admin); names are unique within a group",
    responses=error_responses(403, 404, 409),
)
async def rename_video(
    video_id: Id, data: JSONBody[VideoPatch], principal: Authenticated, media: Media
) -> VideoOut:
    return await media.rename(principal.user_id, video_id, data.name)


@delete(
    "/api/v1/videos/{video_id:int}",
    status_code=HTTP_204_NO_CONTENT,
    summary="Delete a video and its file (uploader or group admin)",
    responses=error_responses(403, 404),
)
async def delete_video(video_id: Id, principal: Authenticated, media: Media) -> None:
    await media.delete(principal.user_id, video_id)


@route(
    "/api/v1/videos/{video_id:int}/stream",
    http_method=["GET", "HEAD"],
    summary="The video's bytes (or a rendition's: ?quality=360p) with HTTP Range (RFC 9110); a bearer "
    "token or the signed stream_url",
    responses=stream_responses("video/*"),
)
async def stream_video(
    request: Request[Any, Any, Any],
    video_id: Id,
    accounts: Accounts,
    media: Media,
    quality: Quality = "original",
    uid: Uid = None,
    exp: Exp = None,
    sig: Sig = None,
) -> Response[bytes]:
    return await media.stream(request, accounts, video_id, Link(uid, exp, sig), quality)


@route(
    "/api/v1/videos/{video_id:int}/poster",
    http_method=["GET", "HEAD"],
    summary="The video's poster (JPEG), made with its renditions; a bearer token or the signed poster_url",
    responses=stream_responses("image/jpeg"),
)
async def video_poster(
    request: Request[Any, Any, Any],
    video_id: Id,
    accounts: Accounts,
    media: Media,
    uid: Uid = None,
    exp: Exp = None,
    sig: Sig = None,
) -> Response[bytes]:
    return await media.stream(request, accounts, video_id, Link(uid, exp, sig), POSTER)


@route(
    "/api/stream/{video_name:str}",
    http_method=["GET", "HEAD"],
    summary="The seed's stream by name: unique within a group; ambiguous across groups (409) "
    "unless group_id narrows it",
    responses=stream_responses("video/*"),
)
async def stream_video_by_name(
    request: Request[Any, Any, Any],
    video_name: Annotated[str, Parameter(description="The video's name (unique within its group)")],
    accounts: Accounts,
    media: Media,
    group_id: GroupFilter = None,
    quality: Quality = "original",
    uid: Uid = None,
    exp: Exp = None,
    sig: Sig = None,
) -> Response[bytes]:
    return await media.stream_by_name(request, accounts, video_name, group_id, Link(uid, exp, sig), quality)


route_handlers = [
    area(
        upload_video,
        upload_form,
        list_group_videos,
        list_videos,
        get_video,
        rename_video,
        delete_video,
        tags=TAGS,
        security=BEARER,
        errors=(400, 401),
    ),
    area(stream_video, video_poster, stream_video_by_name, tags=TAGS, security=BEARER_OR_SIGNED),
]
