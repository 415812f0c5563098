"""Attachment endpoints: the bytes (and an image's thumbnail) with Range, by bearer token or signed URL.

Uploading goes through the resumable upload sessions (`POST /api/v1/uploads` with
`purpose: "attachment"`); sending, through a message's `attachment_ids`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, route

from app.domain.accounts.deps import Accounts, Authenticated
from app.domain.attachments.deps import Attachments
from app.domain.media.catalog.controllers import BEARER_OR_SIGNED, Exp, Sig, stream_responses
from app.domain.messages.schemas import AttachmentOut
from app.domain.params import Id
from app.web.responses import BEARER, error_responses
from app.web.routes import area

TAGS = ["attachments"]


@get(
    "/api/v1/attachments/{attachment_id:int}/info",
    summary="One attachment (members of its group), with fresh signed URLs",
    responses=error_responses(400, 401, 404),
)
async def get_attachment(
    attachment_id: Id, principal: Authenticated, attachments: Attachments
) -> AttachmentOut:
    return await attachments.get(principal.user_id, attachment_id)


@route(
    "/api/v1/attachments/{attachment_id:int}",
    http_method=["GET", "HEAD"],
    summary="An attachment's bytes with HTTP Range; a member's bearer token or the signed `url`. "
    "Images inline, anything else as a download; always nosniff and a sandbox CSP",
    responses=stream_responses("*/*"),
)
async def download_attachment(
    request: Request[Any, Any, Any],
    attachment_id: Id,
    accounts: Accounts,
    attachments: Attachments,
    exp: Exp = None,
    sig: Sig = None,
) -> Response[bytes]:
    return await attachments.serve(request, accounts, attachment_id, "file", exp, sig)


@route(
    "/api/v1/attachments/{attachment_id:int}/thumbnail",
    http_method=["GET", "HEAD"],
    summary="An image attachment's thumbnail (WebP, 320 px wide at most, no metadata)",
    responses=stream_responses("image/webp"),
)
async def attachment_thumbnail(
    request: Request[Any, Any, Any],
    attachment_id: Id,
    accounts: Accounts,
    attachments: Attachments,
    exp: Exp = None,
    sig: Sig = None,
) -> Response[bytes]:
    return await attachments.serve(request, accounts, attachment_id, "thumbnail", exp, sig)


route_handlers = [
    area(get_attachment, tags=TAGS, security=BEARER),
    area(download_attachment, attachment_thumbnail, tags=TAGS, security=BEARER_OR_SIGNED),
]
