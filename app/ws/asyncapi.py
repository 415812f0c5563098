"""The socket's contract: an AsyncAPI 3.0.0 document generated from the frame types themselves.

`GET /schema/asyncapi.json` serves it (next to Litestar's `/schema/openapi.json`). Payload schemas
are msgspec's JSON Schemas of the Structs that are encoded and decoded on the wire, so a changed
frame changes the document; what a type cannot say (which frames go where, the subprotocols, the
close codes' meaning) is stated here once. tests/unit/test_asyncapi.py validates the document against
the official AsyncAPI 3.0.0 schema and checks that every frame type and close code is in it;
tests/integration/test_asyncapi.py checks real frames against it. docs/protocol.md is the prose
version.

Operations are the server's: it `receive`s the client frames and `send`s the server frames.
"""

from __future__ import annotations

import functools
import hashlib
import typing
from typing import Any

import msgspec
import msgspec.inspect as mi
from litestar import MediaType, Request, Response, get
from litestar.datastructures import CacheControlHeader

from app import __version__
from app.domain.frames import GroupJoined, SessionEnded
from app.domain.messages.schemas import (
    ChatMessage,
    MemberAdded,
    MemberLeft,
    VideoControl,
)
from app.ws.fanout import FRAME_CHARS, CloseCode
from app.ws.handshake import BEARER_SUBPROTOCOL, COALESCING, SUBPROTOCOLS
from app.ws.protocol import (
    FRAME_MAX_BYTES,
    SERVER_FRAMES,
    ClientFrame,
    ErrorFrame,
    Pong,
    Reset,
    StreamClosed,
)

Frame = type[msgspec.Struct]

CLIENT_FRAMES: tuple[Frame, ...] = typing.get_args(ClientFrame)
# What `/ws/group/{id}` sends a seed-000 client (no huddle.* subprotocol, no `events=all`).
SEED_FRAMES: tuple[Frame, ...] = (ChatMessage, MemberAdded, MemberLeft, VideoControl, ErrorFrame, Pong, Reset)
STREAM_FRAMES: tuple[Frame, ...] = (StreamClosed,)  # `GET /api/v1/events` only
# Tagged like frames but never on a socket: the user channel between workers (app/ws/fanout.py).
BROKER_ONLY: tuple[Frame, ...] = (SessionEnded, GroupJoined)

# Each CloseCode member: what it means, what a client should do.
CLOSE_CODES: dict[str, tuple[str, str]] = {
    "NORMAL": ("normal closure", "nothing"),
    "ORIGIN": (
        "a browser's Origin not allowed (WS_ALLOWED_ORIGINS): the handshake is refused (HTTP 403)",
        "connect from an allowed origin",
    ),
    "TOO_BIG": (f"a frame over {FRAME_MAX_BYTES // 1024} KiB", "send smaller frames"),
    "INTERNAL": (
        "internal error (setting the socket up, or replaying)",
        "reconnect later (with backoff) and resume",
    ),
    "RESTART": ("the server is restarting", "reconnect (to another worker) and resume"),
    "TRY_AGAIN_LATER": (
        (
            "too slow: the socket's send queue (WS_SEND_QUEUE events) overflowed; or server busy: the "
            "database is down or saturated"
        ),
        "reconnect with backoff and resume",
    ),
    "BAD_URL": ("(seed URL) `last_seq` is not a whole number from 0", "fix the URL"),
    "UNAUTHORIZED": (
        "not authenticated, or the session ended (logout, password change, account deleted, expired)",
        "sign in again",
    ),
    "NOT_FOUND": (
        "not a member of that group (or no such group, or a group id that cannot be one)",
        "stop following the group",
    ),
    "IDLE": ("idle: nothing received for WS_IDLE_TIMEOUT (90 s)", "send a `ping` every ~25 s"),
    "TOO_MANY_SOCKETS": (
        "the user already holds WS_SOCKETS_PER_USER (32) open sockets, across every worker",
        "close a socket no longer used",
    ),
    "FLOOD": ("a sustained frame flood (refused frames did not slow it down)", "slow down"),
}

SUBPROTOCOL_TEXT = {
    COALESCING: (
        "one or more events per frame, one JSON object per line (NDJSON): a frame carries every event "
        f"queued while the previous one was written, up to {FRAME_CHARS // 1024} Ki characters (a larger "
        "event goes alone); a lone event is written at once"
    ),
    "huddle.v1": "exactly one event per frame",
}


def close_codes() -> list[dict[str, Any]]:
    """Every CloseCode member with its meaning; a member without one is a bug (KeyError)."""
    members = {code.name: int(code) for code in CloseCode}
    return sorted(
        (
            {"code": code, "name": name, "meaning": CLOSE_CODES[name][0], "action": CLOSE_CODES[name][1]}
            for name, code in members.items()
        ),
        key=lambda entry: (entry["code"], entry["name"]),
    )


def tag_of(frame: Frame) -> str:
    return str(frame.__struct_config__.tag)


def message_key(side: str, frame: Frame) -> str:
    return f"{side}.{tag_of(frame)}"


def _summary(frame: Frame) -> str | None:
    doc = frame.__doc__
    return " ".join(doc.split("\n\n")[0].split()) if doc else None


def _message(side: str, frame: Frame, seed: bool) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": tag_of(frame),
        "title": f"{tag_of(frame)} ({'client to server' if side == 'client' else 'server to client'})",
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{frame.__name__}"},
        "x-struct": f"{frame.__module__}.{frame.__qualname__}",
    }
    if summary := _summary(frame):
        message["summary"] = summary
    if seed:
        message["tags"] = [{"name": "seed"}]
    return message


def _close_table(codes: list[dict[str, Any]]) -> str:
    rows = "\n".join(f"| {c['code']} | `{c['name']}` | {c['meaning']} | {c['action']} |" for c in codes)
    return "| Code | Name | Meaning | What the client should do |\n|---|---|---|---|\n" + rows


def _subprotocol_text() -> str:
    lines = [f"- `{name}`: {SUBPROTOCOL_TEXT[name]}" for name in SUBPROTOCOLS]
    lines.append("- neither: as `huddle.v1`")
    lines.append(
        f"- `{BEARER_SUBPROTOCOL}<access token>`: authentication only, never selected; the server selects "
        f"`{SUBPROTOCOLS[0]}` when offered"
    )
    return "\n".join(lines)


def _query(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


AUTH_QUERY = {
    "ticket": {
        "type": "string",
        "description": "single-use ticket from `POST /api/v1/auth/ws-ticket` (valid 60 s); browsers use this",
    },
    "token": {
        "type": "string",
        "description": "an access token (seed-000 clients; prefer a ticket or the bearer subprotocol)",
    },
}
SUBPROTOCOL_HEADER = {
    "type": "object",
    "properties": {
        "Sec-WebSocket-Protocol": {
            "type": "string",
            "description": "offer, best first: "
            + ", ".join(SUBPROTOCOLS)
            + f" (and `{BEARER_SUBPROTOCOL}<access token>` to authenticate without a URL token)",
        }
    },
}


def _mark_datetimes(frames: list[Frame], schemas: dict[str, Any]) -> None:
    """msgspec states `format: date-time` only for datetimes declared tz-aware (Meta(tz=True)); the
    frames' datetimes are all UTC, encoded as RFC 3339 (`2025-12-18T10:30:00Z`), so say so."""
    seen: set[type] = set()
    pending: list[mi.Type] = list(mi.multi_type_info(frames))
    while pending:
        info = pending.pop()
        if isinstance(info, mi.UnionType):
            pending.extend(info.types)
        elif isinstance(info, (mi.ListType, mi.DictType)):
            pending.append(info.item_type if isinstance(info, mi.ListType) else info.value_type)
        elif isinstance(info, mi.StructType) and info.cls not in seen:
            seen.add(info.cls)
            properties = schemas[info.cls.__name__]["properties"]
            for field in info.fields:
                pending.append(field.type)
                options = field.type.types if isinstance(field.type, mi.UnionType) else (field.type,)
                if any(isinstance(option, mi.DateTimeType) for option in options):
                    prop = properties[field.encode_name]
                    for branch in prop.get("anyOf", [prop]):
                        if branch.get("type") == "string":
                            branch["format"] = "date-time"


def build() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document, as plain JSON-ready data."""
    frames = [*CLIENT_FRAMES, *SERVER_FRAMES, *STREAM_FRAMES]
    _, schemas = msgspec.json.schema_components(frames, ref_template="#/components/schemas/{name}")
    _mark_datetimes(frames, schemas)
    seed = set(SEED_FRAMES)
    messages: dict[str, Any] = {}
    for frame in CLIENT_FRAMES:
        messages[message_key("client", frame)] = _message("client", frame, seed=False)
    for frame in SERVER_FRAMES:
        messages[message_key("server", frame)] = _message("server", frame, seed=frame in seed)
    for frame in STREAM_FRAMES:
        messages[message_key("stream", frame)] = _message("stream", frame, seed=False)
    client_keys = [message_key("client", frame) for frame in CLIENT_FRAMES]
    server_keys = [message_key("server", frame) for frame in SERVER_FRAMES]
    stream_keys = server_keys + [message_key("stream", frame) for frame in STREAM_FRAMES]
    codes = close_codes()
    subprotocols = _subprotocol_text()
    closing = "## Close codes\n\n" + _close_table(codes)

    def refs(keys: list[str]) -> dict[str, Any]:
        return {key: {"$ref": f"#/components/messages/{key}"} for key in keys}

    def operation(action: str, channel: str, keys: list[str], summary: str, **extra: Any) -> dict[str, Any]:
        return {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{channel}/messages/{key}"} for key in keys],
            **extra,
        }

    socket_servers = [{"$ref": "#/servers/ws"}, {"$ref": "#/servers/wss"}]
    return {
        "asyncapi": "3.0.0",
        "id": "urn:huddle:realtime",
        "info": {
            "title": "Huddle real-time",
            "version": __version__,
            "description": (
                "JSON text frames in both directions over WebSockets, every frame an object with a "
                "`type` (the message names below), and the same server frames as Server-Sent Events. "
                "Operations are the server's: it receives the client frames and sends the server frames. "
                "Generated from the msgspec frame types (app/ws/asyncapi.py); docs/protocol.md is the "
                "prose version, with ordering, resume and clock sync."
            ),
            "license": {"name": "MIT"},
        },
        "defaultContentType": "application/json",
        "servers": {
            **{
                scheme: {
                    "host": "{host}",
                    "protocol": scheme,
                    "description": "the host serving Huddle (the SPA's own origin)",
                    "variables": {"host": {"default": "localhost:8000"}},
                }
                for scheme in ("ws", "wss", "http", "https")
            }
        },
        "channels": {
            "socket": {
                "address": "/ws",
                "title": "All of the user's groups",
                "description": (
                    "One socket for all of the user's groups: send `resume` (or `subscribe`) with the last "
                    "`seq` seen per group; groups joined later are followed at once. `group_id` is required "
                    "in client frames.\n\n## Subprotocols\n\n" + subprotocols + "\n\n" + closing
                ),
                "servers": socket_servers,
                "messages": refs(client_keys + server_keys),
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": _query(AUTH_QUERY),
                        "headers": SUBPROTOCOL_HEADER,
                        "bindingVersion": "0.1.0",
                    }
                },
                "x-subprotocols": [*SUBPROTOCOLS, f"{BEARER_SUBPROTOCOL}<access token>"],
                "x-close-codes": codes,
            },
            "groupSocket": {
                "address": "/ws/group/{group_id}",
                "title": "One group (the seed's socket)",
                "description": (
                    "The seed's one-group socket, following that group from the start (`last_seq`: resume "
                    "after it). Without a `huddle.*` subprotocol or `events=all` it speaks the seed's "
                    "vocabulary, the messages tagged `seed`: "
                    + ", ".join(f"`{tag_of(frame)}`" for frame in SEED_FRAMES)
                    + '. `group_id` may be left out of client frames; `{"text": ...}` without a `type` '
                    "is a `message`. A malformed URL completes the handshake, then closes "
                    "(4404, 4400).\n\n## Subprotocols\n\n" + subprotocols + "\n\n" + closing
                ),
                "parameters": {
                    "group_id": {
                        "description": "the group's id, a whole number from 1 (else closes with 4404)"
                    }
                },
                "servers": socket_servers,
                "messages": refs(client_keys + server_keys),
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": _query(
                            {
                                **AUTH_QUERY,
                                "last_seq": {
                                    "type": "string",
                                    "pattern": "^[0-9]*$",
                                    "description": "resume after this seq (else closed with 4400)",
                                },
                                "events": {
                                    "type": "string",
                                    "enum": ["all"],
                                    "description": "every server frame, not only the seed's vocabulary",
                                },
                            }
                        ),
                        "headers": SUBPROTOCOL_HEADER,
                        "bindingVersion": "0.1.0",
                    }
                },
                "x-subprotocols": [*SUBPROTOCOLS, f"{BEARER_SUBPROTOCOL}<access token>"],
                "x-seed-vocabulary": [tag_of(frame) for frame in SEED_FRAMES],
                "x-close-codes": codes,
            },
            "events": {
                "address": "/api/v1/events",
                "title": "Server-Sent Events",
                "description": (
                    "`GET /api/v1/events` (`text/event-stream`): the server frames of `/ws` for every group "
                    "of the user, each as one event named by its `type` with the frame as `data:`; every "
                    "write ends with an `id:` cursor (`group:seq` pairs) that `Last-Event-ID` or `?cursor=` "
                    "resumes from. Authenticate with `?ticket=` or `Authorization: Bearer`. When the server "
                    "ends a stream it sends `close` first, with the socket's close code. Sending goes "
                    "over HTTP (see the OpenAPI document, tag `realtime`)."
                ),
                "servers": [{"$ref": "#/servers/http"}, {"$ref": "#/servers/https"}],
                "messages": refs(stream_keys),
            },
        },
        "operations": {
            "receiveSocketFrames": operation(
                "receive", "socket", client_keys, "Frames a client sends on `/ws`"
            ),
            "sendSocketFrames": operation("send", "socket", server_keys, "Frames the server sends on `/ws`"),
            "receiveGroupSocketFrames": operation(
                "receive", "groupSocket", client_keys, "Frames a client sends on `/ws/group/{group_id}`"
            ),
            "sendGroupSocketFrames": operation(
                "send", "groupSocket", server_keys, "Frames the server sends on `/ws/group/{group_id}`"
            ),
            "sendEvents": operation(
                "send",
                "events",
                stream_keys,
                "Events of `GET /api/v1/events`",
                bindings={"http": {"method": "GET", "bindingVersion": "0.3.0"}},
            ),
        },
        "components": {"schemas": schemas, "messages": messages},
    }


@functools.cache
def encoded() -> tuple[bytes, str]:
    """The document as JSON and its ETag (the same for every request of a deployment)."""
    body = msgspec.json.format(msgspec.json.encode(build()), indent=2)
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


CACHE = CacheControlHeader(public=True, max_age=3600)


@get("/schema/asyncapi.json", include_in_schema=False, cache_control=CACHE, sync_to_thread=False)
def asyncapi_schema(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The socket's contract (no authentication: it is public, as `/schema/openapi.json` is)."""
    body, etag = encoded()
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=304, headers={"ETag": etag})
    return Response(body, media_type=MediaType.JSON, headers={"ETag": etag})


route_handlers = [asyncapi_schema]
