"""Notification settings (per user and per group) and the Mentions view."""

from __future__ import annotations

from typing import Annotated

from litestar import delete, get, patch, post, put
from litestar.params import JSONBody, Parameter

from app.domain.accounts.deps import Authenticated
from app.domain.notifications.deps import Notifications, Push
from app.domain.notifications.schemas import (
    GroupNotificationIn,
    GroupNotificationOut,
    MentionPage,
    NotificationSettingsOut,
    NotificationSettingsPatch,
    PushKey,
    PushSubscriptionIn,
    PushSubscriptionOut,
)
from app.domain.params import BEARER, Id, Offset
from app.server.controller import DocumentedController
from app.server.errors import error_responses


class NotificationController(DocumentedController):
    path = "/api/v1/notifications"
    tags = ["notifications"]  # noqa: RUF012 -- Litestar's class attribute
    security = BEARER
    responses = error_responses(400, 401, 422)

    @get("/settings", summary="The caller's notification settings, with every per-group choice")
    async def get_notification_settings(
        self, principal: Authenticated, notifications: Notifications
    ) -> NotificationSettingsOut:
        return await notifications.settings(principal)

    @patch("/settings", summary="Change the caller's notification settings (only the fields given)")
    async def update_notification_settings(
        self,
        data: JSONBody[NotificationSettingsPatch],
        principal: Authenticated,
        notifications: Notifications,
    ) -> NotificationSettingsOut:
        return await notifications.update(principal, data)

    @put(
        "/groups/{group_id:int}",
        summary="The caller's notification level and mute for one group (level null: the default)",
        responses=error_responses(404),
    )
    async def set_group_notification_settings(
        self,
        group_id: Id,
        data: JSONBody[GroupNotificationIn],
        principal: Authenticated,
        notifications: Notifications,
    ) -> GroupNotificationOut:
        return await notifications.set_group(principal, group_id, data)

    @get("/mentions", summary="Messages that mention the caller across their groups, newest first")
    async def list_mentions(
        self,
        principal: Authenticated,
        notifications: Notifications,
        limit: Annotated[int, Parameter(ge=1, le=50)] = 20,
        offset: Offset = 0,
    ) -> MentionPage:
        return await notifications.mentions(principal, limit, offset)


class PushController(DocumentedController):
    """Web Push subscriptions (RFC 8030): the SPA's service worker subscribes with the server's key."""

    path = "/api/v1/push"
    tags = ["notifications"]  # noqa: RUF012 -- Litestar's class attribute
    security = BEARER
    responses = error_responses(400, 401, 422)

    @get("/key", summary="The server's VAPID public key, for PushManager.subscribe (null: Web Push is off)")
    async def get_push_key(self, principal: Authenticated, push: Push) -> PushKey:  # noqa: ARG002 -- signed in
        return push.key()

    @post(
        "/subscriptions",
        summary="Register this browser's push subscription (idempotent on the endpoint)",
        responses=error_responses(503),
    )
    async def create_push_subscription(
        self, data: JSONBody[PushSubscriptionIn], principal: Authenticated, push: Push
    ) -> PushSubscriptionOut:
        return await push.subscribe(principal, data)

    @delete("/subscriptions", summary="Remove one of the caller's push subscriptions by its endpoint")
    async def delete_push_subscription(
        self,
        principal: Authenticated,
        push: Push,
        endpoint: Annotated[str, Parameter(min_length=8, max_length=2048)],
    ) -> None:
        await push.unsubscribe(principal, endpoint)


route_handlers = [NotificationController, PushController]
