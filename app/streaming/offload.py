"""Handing an authorized stream's bytes to something built to move them (STREAM_OFFLOAD).

Huddle authorizes every request as before; then, instead of reading the bytes itself, it answers with
`X-Accel-Redirect` (nginx serves the file from MEDIA_DIR with sendfile) or with a 307 to a short-lived,
read-only SAS URL of that one blob (the browser reads Azure directly).

Only the requests both servers answer exactly as Huddle would are handed over: a GET with no `Range`
at all, or with one plain range `bytes=first-` / `bytes=first-last` that Huddle would honour and can
satisfy. Huddle answers everything else itself, so the semantics never depend on the path: HEAD,
304 (the validators are the same on every path), 416, suffix and multiple ranges, malformed headers
and a failed `If-Range`. Players ask plain ranges, so the bytes of nearly every request move without
Python; nginx or Azure then evaluate `If-Range` against the same validator Huddle did.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

from litestar import Request, Response

from app.blobstore import BlobInfo, BlobStore
from app.config import Settings
from app.streaming.conditions import if_range_allows, not_modified

# ASCII digits of a length every real size fits (longer ones nginx refuses where Huddle clamps).
_PLAIN_RANGE = re.compile(r"bytes=([0-9]{1,18})-([0-9]{0,18})")
# Every header a handed-over response carries from Huddle; the byte server adds the rest (length,
# validators, Accept-Ranges, Content-Range). nginx copies the last two back from the app's response
# (deploy/nginx/huddle.conf); a SAS URL can set only the first three (see docs/security.md).
HANDED_OVER = (
    "content-type",
    "content-disposition",
    "cache-control",
    "x-content-type-options",
    "content-security-policy",
)
# A redirect to a URL that stops working in minutes: no cache may keep it, shared or private.
REDIRECT_CACHE_CONTROL = "no-store"


class Offload(Protocol):
    """Who sends the bytes of a request Huddle has authorized and found `offloadable`."""

    async def respond(self, key: str, info: BlobInfo, headers: Mapping[str, str]) -> Response[bytes]:
        """The response that hands blob `key` over; `headers` are the representation's (HANDED_OVER)."""
        ...


class NginxOffload:
    """`X-Accel-Redirect: <prefix><key>`: nginx's `internal` location at the prefix serves the file
    (deploy/nginx/huddle.conf), keeping the Content-Type, Content-Disposition and Cache-Control sent
    here and adding Huddle's security headers from this response."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    async def respond(self, key: str, info: BlobInfo, headers: Mapping[str, str]) -> Response[bytes]:
        del info
        return Response(
            b"",
            status_code=200,
            media_type=headers["content-type"],
            headers={**headers, "x-accel-redirect": self.prefix + quote(key)},
        )


@runtime_checkable
class SigningStore(Protocol):
    """A blob store that can hand out a read URL of one blob (the Azure adapter)."""

    async def read_url(
        self,
        key: str,
        *,
        lifetime: timedelta,
        content_type: str,
        content_disposition: str | None = None,
        cache_control: str | None = None,
    ) -> str: ...


class AzureRedirect:
    """307 to a read-only SAS URL of the one blob, valid for `lifetime`; the SAS sets the response's
    Content-Type, Content-Disposition and Cache-Control, so Azure answers with Huddle's."""

    def __init__(self, store: SigningStore, lifetime: timedelta) -> None:
        self.store = store
        self.lifetime = lifetime

    async def respond(self, key: str, info: BlobInfo, headers: Mapping[str, str]) -> Response[bytes]:
        del info
        url = await self.store.read_url(
            key,
            lifetime=self.lifetime,
            content_type=headers["content-type"],
            content_disposition=headers.get("content-disposition"),
            cache_control=headers.get("cache-control"),
        )
        return Response(
            b"",
            status_code=307,
            media_type="text/plain",
            headers={"location": url, "cache-control": REDIRECT_CACHE_CONTROL},
        )


def stream_offload(settings: Settings, store: BlobStore) -> Offload | None:
    """The configured offload for video streams, or None: Huddle sends the bytes (the default)."""
    if settings.stream_offload == "nginx":
        return NginxOffload(settings.stream_offload_prefix)
    if settings.stream_offload == "azure-redirect":
        if not isinstance(store, SigningStore):  # settings_from_env refuses this configuration
            raise RuntimeError("STREAM_OFFLOAD=azure-redirect needs the Azure blob store")
        return AzureRedirect(store, timedelta(seconds=settings.stream_sas_ttl_seconds))
    return None


def redirect_origins(settings: Settings) -> tuple[str, ...]:
    """The origins streams redirect browsers to: the blob endpoint's with azure-redirect, else none."""
    if settings.stream_offload != "azure-redirect" or not settings.azure_storage_connection_string:
        return ()
    return (blob_origin(settings.azure_storage_connection_string),)


def blob_origin(connection_string: str) -> str:
    """`scheme://host[:port]` of the blob endpoint a connection string names (its BlobEndpoint, else
    the account's public endpoint)."""
    parts = {
        name.strip().lower(): value.strip()
        for name, _, value in (part.partition("=") for part in connection_string.split(";"))
    }
    endpoint = parts.get("blobendpoint")
    if not endpoint:
        scheme = parts.get("defaultendpointsprotocol", "https")
        suffix = parts.get("endpointsuffix", "core.windows.net")
        endpoint = f"{scheme}://{parts.get('accountname', '')}.blob.{suffix}"
    split = urlsplit(endpoint)
    return f"{split.scheme}://{split.netloc}"


def offloadable(request: Request[Any, Any, Any], info: BlobInfo) -> bool:
    """Whether nginx or Azure would answer this request exactly as Huddle would (see the module)."""
    if request.method != "GET":
        return False
    headers = request.headers
    conditions = headers.get("if-none-match"), headers.get("if-modified-since")
    if not_modified(*conditions, info.etag, info.last_modified):
        return False  # a 304 has no bytes to move
    header = headers.get("range")
    if header is None:
        return True
    plain = _PLAIN_RANGE.fullmatch(header.strip())
    if plain is None:
        return False
    first, last = int(plain.group(1)), plain.group(2)
    if first >= info.size or (last and int(last) < first):
        return False  # a 416, or a header Huddle ignores: Huddle's own answer
    return if_range_allows(headers.get("if-range"), info.etag, info.last_modified)
