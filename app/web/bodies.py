"""Client JSON, decoded in one place: request bodies (`HuddleRequest`) and socket frames share the
checks. Whatever the bytes, a client gets a 400 (or an `invalid_frame`), never a 500.

msgspec recurses once per nesting level: 3,000 levels raise RecursionError, so depth is counted
before decoding. NUL is refused in every string an operation reads (PostgreSQL cannot store it in
text) except passwords, which are only hashed and may hold any character.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from itertools import accumulate
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, InternalServerException
from litestar.types import Empty

from app.errors import ClientGone

MAX_DEPTH = 32  # the deepest body Huddle accepts nests 3 levels; generous for clients
NUL_REFUSED = "text must not contain NUL (U+0000)"
NUL_ALLOWED = frozenset({"password", "current_password", "new_password"})
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_decoder = msgspec.json.Decoder()
_FORM = "application/x-www-form-urlencoded"
_DISCONNECTED = "client disconnected prematurely"  # Litestar's detail, its only sign of a disconnect
Fields = frozenset[str] | None


class BadJson(ValueError):
    """Bytes a client sent that are not JSON Huddle accepts; the message is safe to show."""


def depth(data: bytes) -> int:
    """How deeply `data` nests, brackets inside strings not counted."""
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return 0  # cannot be too deep: skip the scan for ordinary bodies
    skeleton = _STRINGS.sub(b"", data)
    return max(accumulate(_STEP.get(byte, 0) for byte in skeleton), default=0)


def check(data: bytes | str, fields: Fields = None) -> None:
    """Refuse what msgspec cannot decode safely or Huddle cannot store, before any typed decoding."""
    raw = data.encode(errors="surrogatepass") if isinstance(data, str) else data
    if depth(raw) > MAX_DEPTH:
        raise BadJson(f"JSON nested deeper than {MAX_DEPTH} levels")
    if b"\\u0000" in raw and has_nul(_decode(raw), fields):
        raise BadJson(NUL_REFUSED)


def decode(data: bytes, fields: Fields = None) -> Any:
    check(data, fields)
    return _decode(data)


def _decode(data: bytes) -> Any:
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
        raise BadJson(f"Invalid JSON: {str(error)[:200]}") from None


def has_nul(value: Any, fields: Fields = None) -> bool:
    """NUL in a string Huddle reads: an object's declared `fields` (all when None: keys and unknown
    fields are ignored by the decoder), any item of a list; passwords aside."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(
            has_nul(item)
            for key, item in value.items()
            if key not in NUL_ALLOWED and (fields is None or key in fields)
        )
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


def body_fields(handler: Any) -> Fields:
    """The fields of a handler's `data` Struct; None when it takes something else."""
    data = handler.parsed_fn_signature.parameters.get("data")
    fields = getattr(data.annotation, "__struct_fields__", None) if data is not None else None
    return None if fields is None else frozenset(fields)


class HuddleRequest(Request[Any, Any, Any]):
    """Litestar's request with the JSON body decoded by `decode`, and a client that disconnects
    mid-body reported as ClientGone (Litestar raises a 500 for it)."""

    async def stream(self) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in super().stream():
                yield chunk
        except InternalServerException as error:
            if error.detail != _DISCONNECTED:
                raise
            raise ClientGone from None

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                try:
                    value = decode(await self.body() or b"null", body_fields(self.route_handler))
                except BadJson as error:
                    raise ClientException(str(error)) from None
                self._json = self._connection_state.json = value
        return self._json


async def refuse_nul(request: Request[Any, Any, Any]) -> None:
    """`before_request`: NUL in the path, a query parameter or a form field the handler reads
    (passwords aside) is a 400. Parameters it does not declare are ignored, NUL or not."""
    scope, handler = request.scope, request.route_handler
    if "\x00" in scope["path"]:
        raise ClientException(NUL_REFUSED)
    declared = handler.parsed_fn_signature.parameters
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), encoding="utf-8", errors="replace")
    if any("\x00" in value for name, value in query if name in declared):
        raise ClientException(NUL_REFUSED)
    # Only a form decoded into a Struct (the sign-in forms, small): an upload route's body is not read.
    if request.content_type[0] == _FORM and (fields := body_fields(handler)) is not None:
        form = parse_qsl((await request.body()).decode(errors="replace"))
        if has_nul(dict(form), fields):
            raise ClientException(NUL_REFUSED)
