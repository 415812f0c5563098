"""A realistic mixed load on a running Huddle, for Locust (gevent: this file never enters the app).

- `ChatUser` (HTTP): signs in once, then lists groups, pages history, sends over REST and searches.
- `SocketUser` (WebSocket, websocket-client, cooperative under gevent): follows the shared group,
  sends a message now and then with its send time in the text, and reconnects once in a while; every member that receives it reports
  the send-to-receive latency as a Locust request event (`WS` / `send->receive`).
- `RangeUser`: random 1 MiB ranges of a seeded video at `RANGE_URL` (HEAD first to learn the size).

Every user takes one of the accounts `huddle users create` made (LOADTEST_ACCOUNTS), all members of
the group it made with them (`--group`; without it, the first account creates one at test start and
adds the others, which a default MEMBER_ADD_RATE_LIMIT stops past 30). Run it headless with `make loadtest` (see
loadtests/loadtest.py), or by hand:

    huddle users create --count 51 --group "load test" --out var/loadtest/accounts.json
    LOADTEST_ACCOUNTS=var/loadtest/accounts.json \
        locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8000
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from typing import Any

import gevent
import gevent.lock
import websocket
from locust import HttpUser, between, events, task

WORDS = ["video", "tonight", "pizza", "release", "meeting", "popcorn", "deploy", "weekend", "music"]
MARK = "lt:"
TOKEN_LIFETIME = 10 * 60  # refresh well inside ACCESS_TOKEN_EXPIRE_MINUTES (15 by default)
_shared: dict[str, Any] = {}
_setup_lock = gevent.lock.Semaphore()


def _accounts() -> list[dict[str, str]]:
    """The accounts `huddle users create` made for this run (LOADTEST_ACCOUNTS): the first owns the
    shared group, the others are taken one per Locust user. Nobody registers or signs in over HTTP,
    so no rate limit of a default server is in the way."""
    with _setup_lock:
        if "accounts" not in _shared:
            path = os.environ.get("LOADTEST_ACCOUNTS")
            if not path:
                raise SystemExit("loadtests: set LOADTEST_ACCOUNTS (make loadtest does: huddle users create)")
            with open(path) as handle:  # noqa: PTH123 -- gevent-friendly plain open
                content = json.load(handle)
            _shared["accounts"] = content["accounts"]
            _shared["made_group"] = content.get("group")  # `users create --group`: everyone is in it
            _shared["next"] = 1
        return list(_shared["accounts"])


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def shared_group(host: str) -> int:
    """One group for everybody: the one `huddle users create --group` made, or else one created by
    the owner account when the first user starts (its members are then added one by one)."""
    import httpx  # noqa: PLC0415 -- plain client for the set-up, outside the statistics

    owner = _accounts()[0]
    with _setup_lock:
        if "group" not in _shared and _shared.get("made_group"):
            _shared.update(owner=owner, group=_shared["made_group"])
        if "group" not in _shared:
            if not host.startswith(("http://127.0.0.1", "http://localhost")):
                raise SystemExit("loadtests: loopback hosts only (http://127.0.0.1:PORT)")
            with httpx.Client(base_url=host, timeout=30) as client:
                group = client.post(
                    "/api/v1/groups",
                    json={"name": "load test", "description": "locust"},
                    headers=_headers(owner["access_token"]),
                )
                group.raise_for_status()
                _shared.update(owner=owner, group=group.json()["id"])
    return int(_shared["group"])


def _take_account() -> dict[str, str]:
    accounts = _accounts()
    with _setup_lock:
        index = _shared["next"]
        if index >= len(accounts):
            raise SystemExit(f"loadtests: more users than the {len(accounts) - 1} accounts made for them")
        _shared["next"] = index + 1
    return accounts[index]


class Member(HttpUser):
    abstract = True
    token = ""
    refresh_token = ""
    signed_in_at = 0.0

    def on_start(self) -> None:
        group = shared_group(self.host)
        me = _take_account()
        self.refresh_token = me["refresh_token"]
        self._refresh()
        if _shared.get("made_group"):
            return  # a member already
        self.client.post(
            f"/groups/{group}/members",
            json={"email": me["email"]},
            headers=_headers(_shared["owner"]["access_token"]),
            name="/groups/{id}/members",
        ).raise_for_status()

    def _refresh(self) -> None:
        """A fresh access token from the account's refresh token (rotated each time)."""
        response = self.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": self.refresh_token}, name="/api/v1/auth/refresh"
        )
        response.raise_for_status()
        body = response.json()
        self.token, self.refresh_token = body["access_token"], body["refresh_token"]
        self.signed_in_at = time.monotonic()

    @property
    def auth(self) -> dict[str, str]:
        if time.monotonic() - self.signed_in_at > TOKEN_LIFETIME:
            self._refresh()
        return _headers(self.token)


class ChatUser(Member):
    weight = 3
    wait_time = between(0.5, 2.0)

    @task(3)
    def list_groups(self) -> None:
        self.client.get("/api/v1/groups", headers=self.auth, name="/api/v1/groups")

    @task(4)
    def page_history(self) -> None:
        group = _shared["group"]
        page = self.client.get(
            f"/api/v1/groups/{group}/messages?limit=50", headers=self.auth, name="/groups/{id}/messages"
        )
        items = page.json().get("items", []) if page.ok else []
        if items and page.json().get("has_more"):
            self.client.get(
                f"/api/v1/groups/{group}/messages?limit=50&before_seq={items[0]['seq']}",
                headers=self.auth,
                name="/groups/{id}/messages?before_seq",
            )

    @task(2)
    def send_rest(self) -> None:
        text = " ".join(random.choices(WORDS, k=6))
        self.client.post(
            f"/api/v1/groups/{_shared['group']}/messages",
            json={"text": text, "client_msg_id": uuid.uuid4().hex},
            headers=self.auth,
            name="/groups/{id}/messages [send]",
        )

    @task(1)
    def search(self) -> None:
        self.client.get(
            f"/api/v1/messages/search?q={random.choice(WORDS)}",
            headers=self.auth,
            name="/api/v1/messages/search",
        )


class SocketUser(Member):
    weight = 2
    wait_time = between(1.0, 3.0)
    socket: websocket.WebSocket | None = None
    reader: gevent.Greenlet | None = None
    connected_at = 0.0

    def on_start(self) -> None:
        super().on_start()
        self._connect()

    def _connect(self) -> None:
        url = self.host.replace("http://", "ws://") + f"/ws/group/{_shared['group']}?token={self.token}"
        started = time.perf_counter()
        # A new socket first gets the group's latest messages as history: those were sent before it
        # existed, and counting them as deliveries made a multi-second "latency" tail of replays.
        self.connected_at = time.time()
        try:
            self.socket = websocket.create_connection(url, timeout=10, enable_multithread=True)
        except Exception as error:  # noqa: BLE001 -- reported to Locust, the user idles
            self._fire("connect", started, 0, error)
            return
        self._fire("connect", started, 0, None)
        self.socket.settimeout(None)
        self.reader = gevent.spawn(self._read)

    def on_stop(self) -> None:
        if self.socket is not None:
            self.socket.close()

    def _fire(self, name: str, started: float, length: int, error: Exception | None) -> None:
        events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=error,
            context={},
        )

    def _read(self) -> None:
        while self.socket is not None and self.socket.connected:
            try:
                raw = self.socket.recv()
            except Exception:  # noqa: BLE001 -- closed by us at the end, or by the server
                return
            if not raw:
                return
            frame = json.loads(raw)
            text = frame.get("text") or ""
            if frame.get("type") == "message" and text.startswith(MARK):
                sent_at = float(text[len(MARK) :].split(" ", 1)[0])
                if sent_at < self.connected_at:
                    continue  # history replayed to this new socket, not a live delivery
                events.request.fire(
                    request_type="WS",
                    name="send->receive",
                    response_time=(time.time() - sent_at) * 1000,
                    response_length=len(raw),
                    exception=None,
                    context={},
                )
            elif frame.get("type") == "error":
                events.request.fire(
                    request_type="WS",
                    name="error frame",
                    response_time=0,
                    response_length=len(raw),
                    exception=RuntimeError(frame.get("code")),
                    context={},
                )

    @task(1)
    def reconnect(self) -> None:
        """Phones sleep and networks change: close the socket and open a new one (churn for the
        server's connection registry and subscriptions)."""
        if self.socket is not None:
            self.socket.close()
        if self.reader is not None:
            self.reader.join(timeout=5)
        self._connect()

    @task(10)
    def send(self) -> None:
        if self.socket is None or not self.socket.connected:
            return
        started = time.perf_counter()
        text = f"{MARK}{time.time():.6f} " + " ".join(random.choices(WORDS, k=4))
        try:
            self.socket.send(json.dumps({"type": "message", "text": text, "client_msg_id": uuid.uuid4().hex}))
        except Exception as error:  # noqa: BLE001
            self._fire("send", started, 0, error)
        else:
            self._fire("send", started, len(text), None)


RANGE_URL = os.environ.get("RANGE_URL", "")
RANGE_BYTES = int(os.environ.get("RANGE_SIZE", str(1024 * 1024)))

if RANGE_URL:

    class RangeUser(HttpUser):
        """Random ranges of one seeded video (RANGE_URL, absolute, on 127.0.0.1)."""

        weight = 1
        wait_time = between(0.1, 0.5)
        size = 0

        def on_start(self) -> None:
            head = self.client.head(RANGE_URL, name="stream HEAD")
            self.size = int(head.headers.get("content-length", "0"))

        @task
        def random_range(self) -> None:
            if self.size <= RANGE_BYTES:
                return
            start = random.randrange(0, self.size - RANGE_BYTES)
            end = start + RANGE_BYTES - 1
            with self.client.get(
                RANGE_URL,
                headers={"Range": f"bytes={start}-{end}"},
                name="stream 1 MiB range",
                catch_response=True,
            ) as response:
                if response.status_code != 206 or len(response.content) != RANGE_BYTES:
                    response.failure(f"status {response.status_code}, {len(response.content)} bytes")
