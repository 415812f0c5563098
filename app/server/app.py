"""`create_app(settings)`: the one place that assembles the application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import ControllerRouterHandler, Scope, Send

from app.config import Settings
from app.db.engine import sqlalchemy_config
from app.domain.accounts import controllers as accounts
from app.domain.accounts import oidc_controllers as oidc
from app.domain.accounts.deps import provide_accounts, provide_blocks, provide_principal, provide_runtime
from app.domain.attachments import controllers as attachments
from app.domain.attachments.deps import provide_attachments
from app.domain.groups import controllers as groups
from app.domain.groups.deps import provide_groups
from app.domain.media.catalog import controllers as videos
from app.domain.media.deps import (
    provide_form_uploads,
    provide_media,
    provide_resumable,
    provide_subtitles,
)
from app.domain.media.subtitles import controllers as subtitles
from app.domain.media.transcode.runner import TranscodeRunner
from app.domain.media.uploads import controllers as uploads
from app.domain.media.uploads.sweeper import UploadSweeper
from app.domain.messages import controllers as messages
from app.domain.messages.deps import provide_messages
from app.domain.notifications import controllers as notifications
from app.domain.notifications.deps import provide_notifications, provide_push
from app.domain.notifications.push import PushNotifier
from app.domain.notifications.vapid import vapid_key
from app.domain.runtime import Runtime
from app.observability.logs import configure_logging
from app.observability.middleware import FRAME_SEND, observe
from app.server import health, metrics, spa
from app.server.dependencies import resolve_dependencies_in_order
from app.server.errors import azure_exception_handlers, exception_handlers
from app.server.openapi_document import openapi_config, refine
from app.server.player_lane import with_player_lane
from app.server.proxies import TrustedProxies, proxy_headers
from app.server.runtime import build_runtime
from app.server.security import cors_config, with_security_headers
from app.streaming.offload import redirect_origins
from app.web.bodies import HuddleRequest, refuse_nul
from app.ws import asyncapi, watching_routes
from app.ws import endpoints as realtime
from app.ws.endpoints import provide_gateway
from app.ws.gateway import Gateway

log = logging.getLogger("huddle")

DEFAULT_BODY_LIMIT = 1024 * 1024  # JSON bodies; upload routes raise their own limit


def route_handlers() -> Sequence[ControllerRouterHandler]:
    return [
        *health.route_handlers,
        *metrics.route_handlers,
        *accounts.route_handlers,
        *oidc.route_handlers,
        *groups.route_handlers,
        *messages.route_handlers,
        *notifications.route_handlers,
        *videos.route_handlers,
        *subtitles.route_handlers,
        *uploads.route_handlers,
        *attachments.route_handlers,
        *realtime.route_handlers,
        *watching_routes.route_handlers,
        *asyncapi.route_handlers,  # /schema/asyncapi.json, beside Litestar's /schema/openapi.json
        *spa.route_handlers,
    ]


class Huddle(Litestar):
    def _wrap_send(self, send: Send, scope: Scope) -> Send:
        # The server's own send, before Litestar wraps it in the `before_send` hooks (advanced-alchemy's
        # session cleanup, which looks at every message): WebSocket data frames go straight to it
        # (app/ws/gateway.py), and so do an event stream's chunks; accept, close and the response start
        # still pass every layer.
        scope[FRAME_SEND] = send  # type: ignore[literal-required]  # event streams' chunks too (app/ws/sse.py)
        return super()._wrap_send(send, scope)


def create_app(settings: Settings) -> Litestar:
    configure_logging(settings.log_level)
    resolve_dependencies_in_order()
    runtime = build_runtime(settings)
    gateway = Gateway(runtime)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # The schema is upgraded by `huddle run` (embedded SQLite) or `huddle migrate` before workers start.
        await runtime.messages.prepare()
        await gateway.start()
        sweeper = UploadSweeper(runtime)
        sweeper.start()
        transcoder = TranscodeRunner(runtime)  # TRANSCODE_CONCURRENCY slots; 0 starts none
        transcoder.start()
        key = vapid_key(settings)  # None: Web Push is off (production without VAPID_PRIVATE_KEY)
        pusher = PushNotifier(runtime, gateway.presence, key) if key else None
        app.state.pusher = pusher
        if pusher:
            runtime.appender.on_stored = pusher.enqueue
            pusher.start()
        try:
            yield
        finally:
            if pusher:
                runtime.appender.on_stored = None
                await pusher.stop()
            await transcoder.stop()
            await sweeper.stop()
            await gateway.stop()
            await runtime.close()

    app = Huddle(
        route_handlers=route_handlers(),
        dependencies={
            "runtime": Provide(provide_runtime, sync_to_thread=False),
            "accounts": Provide(provide_accounts, sync_to_thread=False),
            "principal": Provide(provide_principal),
            "blocks": Provide(provide_blocks, sync_to_thread=False),
            "groups": Provide(provide_groups, sync_to_thread=False),
            "messages": Provide(provide_messages, sync_to_thread=False),
            "notifications": Provide(provide_notifications, sync_to_thread=False),
            "push": Provide(provide_push, sync_to_thread=False),
            "media": Provide(provide_media, sync_to_thread=False),
            "subtitles": Provide(provide_subtitles, sync_to_thread=False),
            "forms": Provide(provide_form_uploads, sync_to_thread=False),
            "uploads": Provide(provide_resumable, sync_to_thread=False),
            "attachments": Provide(provide_attachments, sync_to_thread=False),
            "gateway": Provide(provide_gateway, sync_to_thread=False),
        },
        exception_handlers=(
            {**exception_handlers, **azure_exception_handlers()}
            if settings.azure_storage_connection_string
            else exception_handlers
        ),
        plugins=[SQLAlchemyPlugin(config=sqlalchemy_config(runtime.engine))],
        openapi_config=openapi_config(),
        lifespan=[lifespan],
        state=State({"runtime": runtime, "gateway": gateway}),
        logging_config=None,  # app.observability.logs owns logging: JSON lines
        cors_config=cors_config(settings),
        request_max_body_size=DEFAULT_BODY_LIMIT,
        request_class=HuddleRequest,  # JSON bodies: one decoder with a depth limit
        before_request=refuse_nul,
        debug=settings.debug,
    )
    # Outermost, around Litestar's whole handler: every request, matched or not, is seen with its
    # real client address. Players' signed ranges are answered just before the router.
    app.asgi_handler = proxy_headers(
        observe(
            with_security_headers(
                with_player_lane(app.asgi_handler, runtime.streams), redirect_origins(settings)
            )
        ),
        TrustedProxies(settings.trusted_proxies),
    )
    refine(app.openapi_schema)
    return app


def runtime_of(app: Litestar) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime
