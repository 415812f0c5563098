"""HTTP hardening: security headers on every response and the CORS allowlist.

CSP `connect-src 'self'` already admits the app's own WebSocket (CSP3: 'self' matches ws:/wss: on
the same host); listing bare `ws: wss:` would let a script open sockets to any host. The API
reference pages under /schema load their renderer from a CDN, so they get a policy of their own.
A header a route set itself (the streamed files' `Content-Security-Policy: sandbox`) is kept.
"""

from __future__ import annotations

from typing import Any

from litestar.config.cors import CORSConfig
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings

CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'; connect-src 'self'"
)
_DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (
    f"default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    f"script-src 'self' 'unsafe-inline' {_DOCS_CDN}; style-src 'self' 'unsafe-inline' {_DOCS_CDN} "
    f"https://fonts.googleapis.com; font-src 'self' data: {_DOCS_CDN} https://fonts.gstatic.com "
    f"https://fonts.scalar.com; img-src 'self' data: {_DOCS_CDN}; connect-src 'self'"
)
DOCS_PREFIX = "/schema"
_COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
_CSP_NAME = b"content-security-policy"


def page_csp(media_origins: tuple[str, ...] = ()) -> str:
    """The policy of the app's pages, admitting `media_origins` for videos and posters."""
    if not media_origins:
        return CSP
    origins = " ".join(media_origins)
    return f"{CSP}; media-src 'self' {origins}; img-src 'self' {origins}"


def with_security_headers(app: ASGIApp, media_origins: tuple[str, ...] = ()) -> ASGIApp:
    """Wraps Litestar's whole handler, so every HTTP response gets the headers, 404s and errors raised
    by the router included. WebSocket messages pass straight through: no cost per frame (a
    `before_send` hook would run for each one). `media_origins`: where streams redirect to
    (STREAM_OFFLOAD=azure-redirect), admitted for videos and posters: a redirect is checked against
    the page's policy too. The headers are encoded once, here, not per response."""
    pages = encoded_headers(page_csp(media_origins))
    docs = encoded_headers(DOCS_CSP)

    async def secured(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        wanted = docs if scope["path"].startswith(DOCS_PREFIX) else pages

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                security_headers(message, wanted)
            await send(message)

        await app(scope, receive, send_secured)

    return secured


def encoded_headers(csp: str) -> tuple[tuple[bytes, bytes], ...]:
    """The security headers of a response under this policy, as the server sends them."""
    return ((_CSP_NAME, csp.encode()), *_COMMON)


def security_headers(message: Any, wanted: tuple[tuple[bytes, bytes], ...]) -> None:
    """Add to a response start each of `wanted` the route has not set itself."""
    headers = list(message.get("headers") or [])
    present = {bytes(name).lower() for name, _ in headers}
    headers.extend(header for header in wanted if header[0] not in present)
    message["headers"] = headers


def cors_config(settings: Settings) -> CORSConfig | None:
    """Cross-origin browser access for the origins in `CORS_ALLOW_ORIGINS` only; none by default.
    Bearer tokens, not cookies, so credentials stay off."""
    if not settings.cors_allow_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_allow_origins),
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["authorization", "content-type", "x-request-id", "range", "if-range", "if-none-match"],
        expose_headers=["x-request-id", "retry-after", "content-range", "accept-ranges", "etag"],
        allow_credentials=False,
        max_age=600,
    )
