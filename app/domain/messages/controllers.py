"""Message endpoints: send, history (keyset and the seed's offset form), edit, delete, reactions,
read receipts, search."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from app.domain.accounts.deps import Authenticated
from app.domain.ids import MAX_ID
from app.domain.messages.deps import Messages
from app.domain.messages.schemas import (
    PAGE_MAX,
    ChatMessage,
    EditMessage,
    MarkRead,
    MessageFrame,
    MessagePage,
    ReactionOut,
    Reader,
    ReadState,
    SearchPage,
    SendMessage,
)
from app.domain.params import Id, Offset
from app.domain.patterns import EMOJI_IN_PATH
from app.web.responses import BEARER, error_responses
from app.web.routes import area

TAGS = ["messages"]
SeqParam = Annotated[int, Parameter(ge=1, le=MAX_ID)]
Cursor = Annotated[int | None, Parameter(ge=0, le=MAX_ID)]
Limit = Annotated[int, Parameter(ge=1, le=PAGE_MAX, description=f"Page size (1-{PAGE_MAX})")]
EmojiParam = Annotated[str, Parameter(min_length=1, max_length=16, pattern=EMOJI_IN_PATH)]
Query = Annotated[str, Parameter(min_length=1, max_length=200)]


@post(
    "/api/v1/groups/{group_id:int}/messages",
    summary="Send a message (idempotent on client_msg_id: 201 when stored, 200 for a retry)",
    responses={200: ResponseSpec(ChatMessage, description="A retry: the message stored the first time")}
    | error_responses(400, 409),
)
async def send_message(
    group_id: Id, data: JSONBody[SendMessage], principal: Authenticated, messages: Messages
) -> Response[ChatMessage]:
    message, created = await messages.send(principal, group_id, data)
    return Response(message, status_code=HTTP_201_CREATED if created else HTTP_200_OK)


@get(
    "/api/v1/groups/{group_id:int}/messages",
    summary="History by seq, ascending: the latest page, older ones with before_seq, newer with after_seq",
    responses=error_responses(400),
)
async def history(
    group_id: Id,
    principal: Authenticated,
    messages: Messages,
    before_seq: Cursor = None,
    after_seq: Cursor = None,
    limit: Limit = 50,
) -> MessagePage:
    return await messages.history(principal, group_id, before_seq, after_seq, limit)


@get(
    "/messages",
    summary="The seed's history: newest first with offset pagination",
    responses=error_responses(400),
)
async def seed_history(
    principal: Authenticated, messages: Messages, group_id: Id, limit: Limit = 50, offset: Offset = 0
) -> list[MessageFrame]:
    return await messages.newest_first(principal, group_id, offset, limit)


@patch(
    "/api/v1/groups/{group_id:int}/messages/{seq:int}",
    summary="Edit your own message",
    responses=error_responses(400, 403),
)
async def edit_message(
    group_id: Id, seq: SeqParam, data: JSONBody[EditMessage], principal: Authenticated, messages: Messages
) -> ChatMessage:
    return await messages.edit(principal, group_id, seq, data.text)


@delete(
    "/api/v1/groups/{group_id:int}/messages/{seq:int}",
    status_code=HTTP_204_NO_CONTENT,
    summary="Delete a message (its author, or a group admin); a tombstone keeps the seq",
    responses=error_responses(403),
)
async def delete_message(group_id: Id, seq: SeqParam, principal: Authenticated, messages: Messages) -> None:
    await messages.delete(principal, group_id, seq)


@put(
    "/api/v1/groups/{group_id:int}/messages/{seq:int}/reactions/{emoji:str}",
    summary="React to a message with an emoji",
    responses=error_responses(400, 422),
)
async def add_reaction(
    group_id: Id, seq: SeqParam, emoji: EmojiParam, principal: Authenticated, messages: Messages
) -> list[ReactionOut]:
    return await messages.react(principal, group_id, seq, emoji, add=True)


@delete(
    "/api/v1/groups/{group_id:int}/messages/{seq:int}/reactions/{emoji:str}",
    status_code=HTTP_200_OK,
    summary="Take back your reaction",
    responses=error_responses(400),
)
async def remove_reaction(
    group_id: Id, seq: SeqParam, emoji: EmojiParam, principal: Authenticated, messages: Messages
) -> list[ReactionOut]:
    return await messages.react(principal, group_id, seq, emoji, add=False)


@post(
    "/api/v1/groups/{group_id:int}/read",
    status_code=HTTP_200_OK,
    summary="Mark the group read up to a seq (never moves backwards)",
    responses=error_responses(400),
)
async def mark_read(
    group_id: Id, data: JSONBody[MarkRead], principal: Authenticated, messages: Messages
) -> ReadState:
    return await messages.mark_read(principal, group_id, data.seq)


@get(
    "/api/v1/groups/{group_id:int}/messages/{seq:int}/readers",
    summary="Members who have read up to this message",
)
async def readers(group_id: Id, seq: SeqParam, principal: Authenticated, messages: Messages) -> list[Reader]:
    return await messages.readers(principal, group_id, seq)


@get(
    "/api/v1/messages/search",
    summary="Full-text search in the caller's groups (or one of them), newest first",
    responses=error_responses(400, 429),
)
async def search_messages(
    principal: Authenticated,
    messages: Messages,
    q: Query,
    group_id: Annotated[int | None, Parameter(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Parameter(ge=1, le=50)] = 20,
    offset: Offset = 0,
) -> SearchPage:
    return await messages.search(principal, q, group_id, limit, offset)


route_handlers = [
    area(
        send_message,
        history,
        seed_history,
        edit_message,
        delete_message,
        add_reaction,
        remove_reaction,
        mark_read,
        readers,
        search_messages,
        tags=TAGS,
        security=BEARER,
        errors=(401, 404),
    )
]
