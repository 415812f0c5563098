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
from app.domain.params import Id, Offset
from app.web.responses import BEARER, error_responses
from app.web.routes import area


@get("/settings", summary="The caller's notification settings, with every per-group choice")
async def get_notification_settings(
    principal: Authenticated, notifications: Notifications
) -> NotificationSettingsOut:
    return await notifications.settings(principal)


@patch("/settings", summary="Change the caller's notification settings (only the fields given)")
async def update_notification_settings(
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
    group_id: Id,
    data: JSONBody[GroupNotificationIn],
    principal: Authenticated,
    notifications: Notifications,
) -> GroupNotificationOut:
    return await notifications.set_group(principal, group_id, data)


@get("/mentions", summary="Messages that mention the caller across their groups, newest first")
async def list_mentions(
    principal: Authenticated,
    notifications: Notifications,
    limit: Annotated[int, Parameter(ge=1, le=50)] = 20,
    offset: Offset = 0,
) -> MentionPage:
    return await notifications.mentions(principal, limit, offset)


# -- Web Push subscriptions (RFC 8030): the SPA's service worker subscribes with the server's key ----


@get("/key", summary="The server's VAPID public key, for PushManager.subscribe (null: Web Push is off)")
async def get_push_key(principal: Authenticated, push: Push) -> PushKey:  # noqa: ARG001 -- signed in only
    return push.key()


@post(
    "/subscriptions",
    summary="Register this browser's push subscription (idempotent on the endpoint)",
    responses=error_responses(503),
)
async def create_push_subscription(
    data: JSONBody[PushSubscriptionIn], principal: Authenticated, push: Push
) -> PushSubscriptionOut:
    return await push.subscribe(principal, data)


@delete("/subscriptions", summary="Remove one of the caller's push subscriptions by its endpoint")
async def delete_push_subscription(
    principal: Authenticated,
    push: Push,
    endpoint: Annotated[str, Parameter(min_length=8, max_length=2048)],
) -> None:
    await push.unsubscribe(principal, endpoint)


route_handlers = [
    area(
        get_notification_settings,
        update_notification_settings,
        set_group_notification_settings,
        list_mentions,
        path="/api/v1/notifications",
        tags=["notifications"],
        security=BEARER,
        errors=(400, 401, 422),
    ),
    area(
        get_push_key,
        create_push_subscription,
        delete_push_subscription,
        path="/api/v1/push",
        tags=["notifications"],
        security=BEARER,
        errors=(400, 401, 422),
    ),
]
