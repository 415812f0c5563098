"""Notification settings over HTTP, and Web Push end to end: a push service on loopback receives the
RFC 8030 request, checks its VAPID JWT (RFC 8292) and decrypts the aes128gcm payload (RFC 8291) with
the subscription's private key; a 410 from it removes the subscription."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import http_ece
import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select

from app.config import Settings
from app.db.models.notifications import PushSubscription
from app.server.app import runtime_of
from tests.conftest import AppClient
from tests.helpers import Account, register
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def group_with(client: AppClient, owner: Account, *members: Account) -> int:
    gid: int = (await client.post("/groups", json={"name": "Team"}, headers=owner.headers)).json()["id"]
    for member in members:
        await client.post(f"/groups/{gid}/members", json={"email": member.email}, headers=owner.headers)
    return gid


async def test_settings_per_user_and_per_group(client: AppClient) -> None:
    me, other = await register(client, name="Me"), await register(client, name="Other")
    gid = await group_with(client, me)
    theirs = await group_with(client, other)
    url = "/api/v1/notifications/settings"
    assert (await client.get(url, headers=me.headers)).json() == {
        "level": "all",
        "mute_until": None,
        "dnd_start": None,
        "dnd_end": None,
        "timezone": "UTC",
        "previews": False,
        "groups": [],
    }
    changed = await client.patch(
        url,
        json={"level": "mentions", "dnd_start": "22:00", "dnd_end": "07:30", "timezone": "Europe/Berlin"},
        headers=me.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() | {"groups": []} == {
        "level": "mentions",
        "mute_until": None,
        "dnd_start": "22:00",
        "dnd_end": "07:30",
        "timezone": "Europe/Berlin",
        "previews": False,
        "groups": [],
    }
    # Only what is given changes.
    body = (
        await client.patch(
            url, json={"previews": True, "mute_until": "2030-01-01T00:00:00Z"}, headers=me.headers
        )
    ).json()
    assert (body["level"], body["previews"], body["mute_until"], body["dnd_start"]) == (
        "mentions",
        True,
        "2030-01-01T00:00:00Z",
        "22:00",
    )
    for bad, status in [
        ({"dnd_start": "23:00"}, 422),  # without its end
        ({"dnd_start": None, "dnd_end": "07:00"}, 422),
        ({"timezone": "Mars/Olympus_Mons"}, 422),
        ({"timezone": "Europe"}, 422),
        ({"level": "loud"}, 400),
        ({"dnd_start": "24:00", "dnd_end": "01:00"}, 400),
        ({"mute_until": "2030-01-01T00:00:00"}, 400),  # no time zone: which instant?
        ({"mute_until": 0}, 400),  # not a Unix time either
        ({"mute_until": "2030-02-30T00:00:00Z"}, 422),
    ]:
        assert (await client.patch(url, json=bad, headers=me.headers)).status_code == status, bad
    cleared = (await client.patch(url, json={"dnd_start": None, "dnd_end": None}, headers=me.headers)).json()
    assert (cleared["dnd_start"], cleared["dnd_end"]) == (None, None)

    group_url = f"/api/v1/notifications/groups/{gid}"
    put = await client.put(
        group_url, json={"level": "nothing", "mute_until": "2030-01-01T02:00:00+02:00"}, headers=me.headers
    )
    assert put.json() == {"group_id": gid, "level": "nothing", "mute_until": "2030-01-01T00:00:00Z"}
    assert (await client.get(url, headers=me.headers)).json()["groups"] == [put.json()]
    reset = await client.put(group_url, json={"level": None}, headers=me.headers)
    assert reset.json()["level"] is None
    # Another's group is "not found", as everywhere.
    assert (
        await client.put(f"/api/v1/notifications/groups/{theirs}", json={}, headers=me.headers)
    ).status_code == 404


async def test_first_settings_written_at_once_from_two_tabs_all_succeed(client: AppClient) -> None:
    """Two tabs saving a user's first settings (or a group's) race to create the row: both succeed."""
    me = await register(client, name="Me")
    gid = await group_with(client, me)
    changes = [{"level": "mentions"}, {"previews": True}, {"timezone": "Europe/Paris"}, {"level": "all"}]
    answers = await asyncio.gather(
        *(client.patch("/api/v1/notifications/settings", json=c, headers=me.headers) for c in changes),
        *(
            client.put(f"/api/v1/notifications/groups/{gid}", json={"level": level}, headers=me.headers)
            for level in ("nothing", "mentions", "all", "mentions")
        ),
    )
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]


# -- Web Push ----------------------------------------------------------------------------------------


@dataclass
class PushService:
    """An RFC 8030 push service on loopback: records each request; /gone/ answers 410."""

    base: str = ""
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()

    async def receive(request: web.Request) -> web.Response:
        service.received.append(
            (request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read())
        )
        return web.Response(status=410 if request.path.startswith("/gone/") else 201)

    app = web.Application()
    app.router.add_post("/{kind}/{token}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    service.base = f"http://127.0.0.1:{port}"
    yield service
    await runner.cleanup()


@dataclass
class Browser:
    """A browser's side of a subscription: its P-256 key pair and auth secret (RFC 8291)."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, endpoint: str) -> dict[str, Any]:
        point = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": endpoint, "keys": {"p256dh": b64(point), "auth": b64(self.auth)}}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        return dict(json.loads(plain))


def check_vapid(headers: dict[str, str], audience: str, server_key: str, subject: str) -> None:
    """RFC 8292: `Authorization: vapid t=<JWT>, k=<public key>`, the JWT ES256-signed by that key."""
    scheme, _, params = headers["authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == server_key
    head, claims, signature = fields["t"].split(".")
    assert json.loads(unb64(head)) == {"typ": "JWT", "alg": "ES256"}
    raw = unb64(signature)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(fields["k"]))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:  # pragma: no cover -- the assertion below says it
        pytest.fail("the VAPID JWT's signature does not verify with its k")
    decoded = json.loads(unb64(claims))
    assert decoded["aud"] == audience
    assert decoded["sub"] == subject
    assert time.time() < decoded["exp"] <= time.time() + 24 * 3600


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.usefixtures("sqlite_url")  # migrated before the test's event loop runs
async def test_web_push_end_to_end(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings], push_service: PushService
) -> None:
    settings = make_settings(push_allow_http=True, vapid_subject="mailto:ops@example.com")
    client: AppClient = await make_client(settings)
    owner, anna = await register(client, name="Owner"), await register(client, name="Anna")
    gid = await group_with(client, owner, anna)
    server_key = (await client.get("/api/v1/push/key", headers=anna.headers)).json()["public_key"]
    assert len(unb64(server_key)) == 65

    browser, stale = Browser(), Browser()
    good = f"{push_service.base}/ok/anna"
    subscribed = await client.post(
        "/api/v1/push/subscriptions", json=browser.subscription(good), headers=anna.headers
    )
    assert subscribed.status_code == 201, subscribed.text
    gone = f"{push_service.base}/gone/anna-old"
    await client.post("/api/v1/push/subscriptions", json=stale.subscription(gone), headers=anna.headers)
    subscribe = "/api/v1/push/subscriptions"
    ftp = browser.subscription("ftp://example.com/x")
    assert (await client.post(subscribe, json=ftp, headers=anna.headers)).status_code == 400
    short = browser.subscription("https://push.example.com/x") | {
        "keys": {"p256dh": b64(b"short"), "auth": b64(b"x")}
    }
    assert (await client.post(subscribe, json=short, headers=anna.headers)).status_code == 422

    pusher = client.app.state.pusher
    runtime = runtime_of(client.app)

    async def subscriptions() -> int:
        async with runtime.sessions() as db:
            return int(await db.scalar(select(func.count()).select_from(PushSubscription)) or 0)

    # Anna has no tab open: the mention is pushed, without its text (no previews).
    await client.post(
        f"/api/v1/groups/{gid}/messages", json={"text": "@Anna the secret plan"}, headers=owner.headers
    )
    await pusher.drained()
    to_good = [r for r in push_service.received if r[0] == "/ok/anna"]
    assert len(to_good) == 1
    _, headers, body = to_good[0]
    assert headers["content-encoding"] == "aes128gcm"
    assert int(headers["ttl"]) == settings.push_ttl_seconds
    check_vapid(headers, push_service.base, server_key, "mailto:ops@example.com")
    payload = browser.decrypt(body)
    assert payload == {
        "group_id": gid,
        "seq": payload["seq"],
        "title": "Owner in Team",
        "body": "You were mentioned",
        "url": f"/g/{gid}?seq={payload['seq']}",
        "mentioned": True,
    }
    assert b"secret" not in body
    # The push service said 410 for the other one: it is gone.
    assert [r[0] for r in push_service.received].count("/gone/anna-old") == 1
    assert await subscriptions() == 1

    # With previews allowed the text comes along; "mentions only" skips the rest.
    await client.patch(
        "/api/v1/notifications/settings", json={"previews": True, "level": "mentions"}, headers=anna.headers
    )
    await client.post(
        f"/api/v1/groups/{gid}/messages", json={"text": "not for anyone"}, headers=owner.headers
    )
    await client.post(f"/api/v1/groups/{gid}/messages", json={"text": "@Anna look"}, headers=owner.headers)
    await pusher.drained()
    bodies = [browser.decrypt(r[2])["body"] for r in push_service.received if r[0] == "/ok/anna"]
    assert bodies == ["You were mentioned", "@Anna look"]

    # With a realtime connection open, nothing is pushed; the author is never pushed their own.
    socket = AsgiWebSocket(client.app, f"/ws/group/{gid}", f"token={anna.access_token}&events=all")
    async with socket:
        await socket.until(lambda frame: frame["type"] == "subscribed")
        await client.post(
            f"/api/v1/groups/{gid}/messages", json={"text": "@Anna while here"}, headers=owner.headers
        )
        await pusher.drained()
    await client.post(f"/api/v1/groups/{gid}/messages", json={"text": "@Owner mine"}, headers=anna.headers)
    await pusher.drained()
    assert len([r for r in push_service.received if r[0] == "/ok/anna"]) == 2

    # Nothing from someone Anna blocked.
    block = await client.put(f"/api/v1/users/me/blocks/{owner.user['id']}", headers=anna.headers)
    assert block.status_code in (200, 204), block.text
    await client.post(f"/api/v1/groups/{gid}/messages", json={"text": "@Anna blocked"}, headers=owner.headers)
    await pusher.drained()
    assert len([r for r in push_service.received if r[0] == "/ok/anna"]) == 2

    # Unsubscribing stops pushes.
    removed = await client.delete(
        "/api/v1/push/subscriptions", params={"endpoint": good}, headers=anna.headers
    )
    assert removed.status_code == 204
    assert await subscriptions() == 0


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.usefixtures("sqlite_url")
async def test_a_push_endpoint_whose_name_points_inward_gets_no_request(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings], push_service: PushService
) -> None:
    """SSRF: subscribing refuses local names, but a public name may resolve (or be re-pointed) to this
    network after the check. The row is written as if it had passed; the push must not go out."""
    client: AppClient = await make_client(make_settings())
    owner, anna = await register(client, name="Owner"), await register(client, name="Anna")
    gid = await group_with(client, owner, anna)
    inward = push_service.base.replace("127.0.0.1", "localhost") + "/ok/rebound"
    point = Browser().subscription(inward)["keys"]
    async with runtime_of(client.app).sessions() as db:
        db.add(
            PushSubscription(
                endpoint=inward, user_id=anna.user["id"], p256dh=point["p256dh"], auth=point["auth"]
            )
        )
        await db.commit()
    await client.post(f"/api/v1/groups/{gid}/messages", json={"text": "@Anna hi"}, headers=owner.headers)
    await client.app.state.pusher.drained()
    assert push_service.received == []


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.usefixtures("sqlite_url")
async def test_pushes_queued_when_the_worker_stops_still_go_out(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings], push_service: PushService
) -> None:
    """A deploy stops workers gracefully: what they had queued is pushed before they go."""
    client: AppClient = await make_client(make_settings(push_allow_http=True))
    owner, anna = await register(client, name="Owner"), await register(client, name="Anna")
    gid = await group_with(client, owner, anna)
    subscription = Browser().subscription(f"{push_service.base}/ok/anna")
    await client.post("/api/v1/push/subscriptions", json=subscription, headers=anna.headers)
    for n in range(5):
        await client.post(
            f"/api/v1/groups/{gid}/messages", json={"text": f"@Anna {n}"}, headers=owner.headers
        )
    await client.app.state.pusher.stop()  # what the app's shutdown does
    assert len([r for r in push_service.received if r[0] == "/ok/anna"]) == 5
