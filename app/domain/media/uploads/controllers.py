"""Resumable upload endpoints: create a session, PUT chunks in any order, complete (or abort)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, delete, get, post, put
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from app.blobstore import MAX_BLOCKS
from app.domain.accounts.deps import Authenticated
from app.domain.attachments.schemas import UploadedAttachment
from app.domain.media.deps import Resumable
from app.domain.media.schemas import ChunkAck, UploadCreate, UploadOut, VideoOut
from app.domain.media.uploads.openapi import ChunkOperation
from app.web.responses import BEARER, error_responses
from app.web.routes import area

TAGS = ["uploads"]
ChunkIndex = Annotated[int, Parameter(ge=0, le=MAX_BLOCKS - 1, description="0-based chunk index")]
UploadId = Annotated[uuid.UUID, Parameter(description="The upload session's id")]


@post(
    "/api/v1/uploads",
    status_code=HTTP_201_CREATED,
    summary="Start a resumable upload (purpose `video` or `attachment`): the answer says the chunk size "
    "and count to send; 409 past a storage quota, 429 past UPLOAD_SESSIONS_PER_USER",
    responses=error_responses(400, 409, 413, 429),
)
async def create_upload(
    data: JSONBody[UploadCreate], principal: Authenticated, uploads: Resumable
) -> UploadOut:
    return await uploads.create(principal.user_id, data)


@get(
    "/api/v1/uploads/{upload_id:uuid}",
    summary="An upload's progress: the chunks received so far (resend the others)",
)
async def get_upload(upload_id: UploadId, principal: Authenticated, uploads: Resumable) -> UploadOut:
    return await uploads.status(principal.user_id, upload_id)


@put(
    "/api/v1/uploads/{upload_id:uuid}/chunks/{index:int}",
    status_code=HTTP_200_OK,
    summary="Store one chunk (raw body, exactly its size); any order, and resending replaces it",
    responses=error_responses(400, 409, 413, 415, 507),
    request_max_body_size=None,  # each chunk is held to its exact size while it is read
    operation_class=ChunkOperation,
)
async def put_chunk(
    request: Request[Any, Any, Any],
    upload_id: UploadId,
    index: ChunkIndex,
    principal: Authenticated,
    uploads: Resumable,
) -> ChunkAck:
    return await uploads.put_chunk(principal.user_id, upload_id, index, request)


@post(
    "/api/v1/uploads/{upload_id:uuid}/complete",
    summary="Check every chunk, the size and the file type, then add the video or the attachment "
    "(201; 200 when repeated)",
    responses=error_responses(409, 413, 415, 422, 507),
)
async def complete_upload(
    upload_id: UploadId, principal: Authenticated, uploads: Resumable
) -> Response[VideoOut | UploadedAttachment]:
    video, created = await uploads.complete(principal.user_id, upload_id)
    return Response(video, status_code=HTTP_201_CREATED if created else HTTP_200_OK)


@delete(
    "/api/v1/uploads/{upload_id:uuid}",
    status_code=HTTP_204_NO_CONTENT,
    summary="Abort an upload and drop its chunks",
    responses=error_responses(409),
)
async def abort_upload(upload_id: UploadId, principal: Authenticated, uploads: Resumable) -> None:
    await uploads.abort(principal.user_id, upload_id)


route_handlers = [
    area(
        create_upload,
        get_upload,
        put_chunk,
        complete_upload,
        abort_upload,
        tags=TAGS,
        security=BEARER,
        errors=(401, 404),
    )
]
