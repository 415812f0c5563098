"""Web Push (RFC 8030, payloads encrypted per RFC 8291 `aes128gcm`, VAPID per RFC 8292) for members
with no open tab.

Never in the send path: the appender hands each batch of new messages to `PushNotifier.enqueue`
(a bounded in-process queue, no await) after it has published them, and a task per worker drains
the queue. A message is appended by exactly one worker, so exactly one worker considers pushing it.
For each message the task reads the group's other members that have a push subscription, with their
settings, leaves out those with a realtime connection to the group (presence, across workers) and
those the settings silence (app/domain/notifications/policy.py), and POSTs to each subscription's
push service with pywebpush. A 404 or 410 from the push service means the subscription is gone:
its row is deleted. Payloads name the group and the sender; the message text only when the user
allows previews. A worker that stops pushes what it has queued first (up to STOP_DRAIN_S); one that is
killed loses its queue. While nobody has a subscription (checked at most every NOBODY_TTL_S) a message
costs no query at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import socket
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp
import aiohttp.abc
import msgspec
from pywebpush import WebPushException, webpush_async
from sqlalchemy import and_, delete, select

from app.db.models.accounts import UserBlock
from app.db.models.groups import Group, Membership
from app.db.models.notifications import GroupNotificationSettings, NotificationSettings, PushSubscription
from app.domain.messages.store import StoredMessage
from app.domain.notifications.policy import Policy, notifies
from app.domain.notifications.vapid import VapidKey
from app.domain.runtime import Runtime

log = logging.getLogger("huddle.push")
QUEUE_MAX = 10_000  # messages waiting; past it new ones are not pushed (logged)
PREVIEW_MAX = 200  # characters of text in a payload that carries one
GONE = (404, 410)
# How long "nobody has a subscription" is believed: a server without Web Push users (a load test, a
# team that never enabled it) then pays no query per message; a first subscription is noticed this late.
NOBODY_TTL_S = 10.0
STOP_DRAIN_S = 5.0  # a stopping worker's time to push what it has queued (Granian allows it 30 s)


class Presence(Protocol):
    """Who has a realtime connection to a group, across workers (the real-time layer's presence)."""

    async def online(self, group_id: int) -> list[int]: ...


class PublicOnlyResolver(aiohttp.abc.AbstractResolver):
    """DNS for push requests that drops every address on this network. Subscribing refuses local
    names and addresses, but a public name can resolve inward (or be made to, after it was checked):
    the address is checked here, as the connection is made."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        found = public_only(await self._inner.resolve(host, port, family))
        if not found:
            raise OSError(f"{host} resolves to no public address: not a push service")
        return found

    async def close(self) -> None:
        await self._inner.close()


def public_only(results: list[aiohttp.abc.ResolveResult]) -> list[aiohttp.abc.ResolveResult]:
    return [result for result in results if ipaddress.ip_address(result["host"]).is_global]


class PushPayload(msgspec.Struct, kw_only=True):
    """What the service worker (app/static/sw.js) receives, decrypted."""

    group_id: int
    seq: int
    title: str
    body: str
    url: str
    mentioned: bool


class PushNotifier:
    def __init__(self, runtime: Runtime, presence: Presence, key: VapidKey) -> None:
        self.runtime = runtime
        self.presence = presence
        self.key = key
        self.queue: asyncio.Queue[StoredMessage] = asyncio.Queue(QUEUE_MAX)
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self.dropped = 0
        self._nobody_until = 0.0  # loop time until which no subscription is assumed

    def enqueue(self, messages: Sequence[StoredMessage]) -> None:
        """New messages, just published (no await: the sender is never held up by pushes)."""
        for message in messages:
            if message.type != "message" or message.author_id is None:
                continue
            try:
                self.queue.put_nowait(message)
            except asyncio.QueueFull:
                self.dropped += 1
                log.warning(
                    "push queue full: message %s of group %s not pushed", message.seq, message.group_id
                )

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="push-notifier")

    async def stop(self) -> None:
        """Push what is queued (for STOP_DRAIN_S at most: a graceful stop, as a deploy makes, loses
        nothing; a push service that hangs does not hold the worker), then stop."""
        if self._task is not None and not self._task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queue.join(), STOP_DRAIN_S)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            await self._http.close()

    async def drained(self) -> None:
        """Until everything queued so far is handled (tests)."""
        await self.queue.join()

    async def _run(self) -> None:
        # PUSH_ALLOW_HTTP is for a push service on this machine (tests, development): no address check.
        local = self.runtime.settings.push_allow_http
        connector = aiohttp.TCPConnector(resolver=None if local else PublicOnlyResolver())
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), connector=connector)
        while True:
            message = await self.queue.get()
            try:
                await self.deliver(message)
            except Exception:  # a database or network fault: this message is not pushed, the next are
                log.exception("push for message %s of group %s failed", message.seq, message.group_id)
            finally:
                self.queue.task_done()

    async def _anyone_subscribed(self) -> bool:
        now = asyncio.get_running_loop().time()
        if now < self._nobody_until:
            return False
        async with self.runtime.sessions() as db:
            anyone = await db.scalar(select(PushSubscription.id).limit(1)) is not None
        if not anyone:
            self._nobody_until = now + NOBODY_TTL_S
        return anyone

    async def deliver(self, message: StoredMessage) -> None:
        if not await self._anyone_subscribed():
            return
        async with self.runtime.sessions() as db:
            rows = (
                await db.execute(
                    select(PushSubscription, NotificationSettings, GroupNotificationSettings)
                    .join(Membership, Membership.user_id == PushSubscription.user_id)
                    .outerjoin(NotificationSettings, NotificationSettings.user_id == PushSubscription.user_id)
                    .outerjoin(
                        GroupNotificationSettings,
                        and_(
                            GroupNotificationSettings.user_id == PushSubscription.user_id,
                            GroupNotificationSettings.group_id == message.group_id,
                        ),
                    )
                    .outerjoin(
                        UserBlock,
                        and_(
                            UserBlock.blocker_id == PushSubscription.user_id,
                            UserBlock.blocked_id == message.author_id,
                        ),
                    )
                    .where(
                        Membership.group_id == message.group_id,
                        Membership.user_id != message.author_id,
                        UserBlock.blocker_id.is_(None),
                    )
                )
            ).all()
            if not rows:
                return
            group = await db.get(Group, message.group_id)
        online = set(await self.presence.online(message.group_id))
        now = dt.datetime.now(dt.UTC)
        sender = message.user_name or "Someone"
        where = sender if group is None or group.is_direct else f"{sender} in {group.name}"
        for subscription, own, in_group in rows:
            if subscription.user_id in online:
                continue
            mentioned = subscription.user_id in message.mentions
            if not notifies(_policy(own, in_group), mentioned=mentioned, now=now):
                continue
            preview = own is not None and own.previews
            text = message.text if len(message.text) <= PREVIEW_MAX else f"{message.text[:PREVIEW_MAX]}…"
            body = text if preview else ("You were mentioned" if mentioned else "New message")
            payload = PushPayload(
                group_id=message.group_id,
                seq=message.seq,
                title=where,
                body=body or "Attachment",
                url=f"/g/{message.group_id}?seq={message.seq}",
                mentioned=mentioned,
            )
            await self.send(subscription, msgspec.json.encode(payload))

    async def send(self, subscription: PushSubscription, data: bytes) -> None:
        info: dict[str, Any] = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        settings = self.runtime.settings
        try:
            await webpush_async(
                info,
                data=data.decode(),
                vapid_private_key=self.key.vapid,
                vapid_claims={"sub": settings.vapid_subject},  # a new dict each time: pywebpush fills it in
                content_encoding="aes128gcm",
                ttl=settings.push_ttl_seconds,
                timeout=aiohttp.ClientTimeout(total=10),  # aiohttp's own type: pywebpush passes it on
                aiohttp_session=self._http,
            )
        except WebPushException as error:
            if error.status_code in GONE:  # the subscription expired or was withdrawn
                await self._forget(subscription.id)
                return
            log.warning("push to subscription %s refused: %s", subscription.id, error.status_code)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("push to subscription %s failed: %s", subscription.id, type(error).__name__)

    async def _forget(self, subscription_id: int) -> None:
        async with self.runtime.sessions() as db:
            await db.execute(delete(PushSubscription).where(PushSubscription.id == subscription_id))
            await db.commit()


def _policy(own: NotificationSettings | None, in_group: GroupNotificationSettings | None) -> Policy:
    group_level = in_group.level if in_group else None
    group_mute = in_group.mute_until if in_group else None
    if own is None:
        return Policy(group_level=group_level, group_mute_until=group_mute)
    return Policy(
        level=own.level,
        mute_until=own.mute_until,
        dnd_start=own.dnd_start,
        dnd_end=own.dnd_end,
        timezone=own.timezone,
        group_level=group_level,
        group_mute_until=group_mute,
    )
