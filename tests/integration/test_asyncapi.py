"""The AsyncAPI document is served, and what really crosses the sockets conforms to it: a short
conversation on `/ws` (huddle.v2), `/ws/group/{id}` (huddle.v1, every event) and the seed's
`/ws/group/{id}` (no subprotocol), where every frame sent and received is checked against its message
in the document, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from app.ws import asyncapi
from tests.asyncapi import FrameChecker
from tests.conftest import AppClient
from tests.helpers import register
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio

Frame = dict[str, Any]


class Recorder:
    """Every event a socket receives, in order; `expect` waits for one that matches and that no
    earlier `expect` returned (events of one socket may interleave: an ack and its message)."""

    def __init__(self, socket: AsgiWebSocket) -> None:
        self.socket = socket
        self.events: list[Frame] = []
        self._taken: set[int] = set()

    async def expect(self, kind: str, match: Callable[[Frame], bool] = lambda _: True) -> Frame:
        async with asyncio.timeout(10):
            while True:
                for index, event in enumerate(self.events):
                    if index not in self._taken and event.get("type") == kind and match(event):
                        self._taken.add(index)
                        return event
                self.events.extend(await self.socket.events(timeout=10))


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_document_is_served_public_and_cacheable(client: AppClient) -> None:
    response = await client.get("/schema/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert msgspec.json.decode(response.content) == msgspec.json.decode(msgspec.json.encode(asyncapi.build()))
    assert "public" in response.headers["cache-control"]
    assert "max-age" in response.headers["cache-control"]
    etag = response.headers["etag"]
    again = await client.get("/schema/asyncapi.json", headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    openapi = (await client.get("/schema/openapi.json")).json()
    assert "/schema/asyncapi.json" not in openapi["paths"]


async def test_real_frames_conform_to_the_document(client: AppClient) -> None:
    document = asyncapi.build()
    checker = FrameChecker(document)
    ann, bob = await register(client, "Ann"), await register(client, "Bob")
    group = (await client.post("/api/v1/groups", json={"name": "lab"}, headers=ann.headers)).json()["id"]
    added = await client.post(
        f"/api/v1/groups/{group}/members", json={"email": bob.email}, headers=ann.headers
    )
    assert added.status_code in (200, 201), added.text
    sent: list[Frame] = []
    async with contextlib.AsyncExitStack() as stack:
        ann_socket = await stack.enter_async_context(
            AsgiWebSocket(client.app, "/ws", f"token={ann.access_token}", ["huddle.v2", "huddle.v1"])
        )
        assert ann_socket.subprotocol == "huddle.v2"
        ann_events = Recorder(ann_socket)

        async def say(frame: Frame) -> None:
            sent.append(frame)
            await ann_socket.send(frame)

        await ann_events.expect("ready")
        await say({"type": "resume", "groups": {str(group): None}})
        await ann_events.expect("subscribed")
        await ann_events.expect("add")  # the history: Bob was added
        full = await stack.enter_async_context(
            AsgiWebSocket(client.app, f"/ws/group/{group}", f"token={bob.access_token}", ["huddle.v1"])
        )
        assert full.subprotocol == "huddle.v1"
        bob_events = Recorder(full)
        seed = await stack.enter_async_context(
            AsgiWebSocket(client.app, f"/ws/group/{group}", f"token={bob.access_token}")
        )
        assert seed.subprotocol is None
        seed_events = Recorder(seed)
        await bob_events.expect("subscribed")
        await ann_events.expect("presence", lambda frame: frame["user_id"] == bob.user["id"])
        await seed_events.expect("add")

        await say({"type": "message", "group_id": group, "text": "hello", "client_msg_id": "c-1"})
        ack = await ann_events.expect("ack")
        await ann_events.expect("message", lambda frame: frame["client_msg_id"] == "c-1")
        await bob_events.expect("message")
        await seed_events.expect("message")
        await say({"type": "typing", "group_id": group, "active": True})
        await bob_events.expect("typing", lambda frame: frame["active"])
        await say({"type": "typing", "group_id": group, "active": False})
        await bob_events.expect("typing", lambda frame: not frame["active"])
        await say({"type": "seen", "group_id": group, "seq": ack["seq"]})
        await bob_events.expect("seen")
        control = {"video_action": "play", "video_name": "clip.mp4", "video_time": 1.5, "rate": 1.0}
        await say({"type": "video_control", "group_id": group, **control})
        await ann_events.expect("video_control")
        await ann_events.expect("playback_state")
        await seed_events.expect("video_control")
        await say({"type": "ping", "t": 1795245095000.0})
        await ann_events.expect("pong")
        await say({"type": "subscribe", "groups": {str(group): ack["seq"]}})  # resume's synonym
        await ann_events.expect("subscribed")
        refused = {"type": "seen", "group_id": group}  # no seq: refused, and the document says so too
        await ann_socket.send(refused)
        assert (await ann_events.expect("error"))["code"] == "invalid_frame"
        assert checker.problems("client", refused)

        # What happens over HTTP reaches the sockets as events.
        message = f"/api/v1/groups/{group}/messages/{ack['seq']}"
        for method, path, body in [
            ("PATCH", message, {"text": "hello!"}),
            ("PUT", f"{message}/reactions/%F0%9F%91%8D", None),
            ("PUT", f"/api/v1/groups/{group}/watching", {"tab": "t1"}),
            ("PATCH", f"/api/v1/groups/{group}", {"name": "lab 2", "description": "d"}),
            ("DELETE", message, None),
        ]:
            answer = await client.request(method, path, json=body, headers=ann.headers)
            assert answer.status_code < 300, (method, path, answer.text)
        for kind in ("message_edited", "reaction", "watching", "group_updated", "message_deleted"):
            await bob_events.expect(kind)
        left = await client.post(f"/api/v1/groups/{group}/leave", headers=bob.headers)
        assert left.status_code < 300, left.text
        await ann_events.expect("leave")
        await seed_events.expect("leave")

    problems = [problem for frame in sent for problem in checker.problems("client", frame)]
    received = ann_events.events + bob_events.events + seed_events.events
    problems += [problem for frame in received for problem in checker.problems("server", frame)]
    assert problems == []
    client_types = {key.split(".", 1)[1] for key in checker.messages if key.startswith("client.")}
    assert {frame["type"] for frame in sent} == client_types  # every client frame was tried
    seen_types = {frame["type"] for frame in received}
    assert seen_types >= {
        "ready", "subscribed", "add", "presence", "ack", "message", "typing", "seen", "video_control",
        "playback_state", "pong", "error", "message_edited", "reaction", "watching", "group_updated",
        "message_deleted", "leave",
    }  # fmt: skip
    seed_types = {frame["type"] for frame in seed_events.events}
    assert seed_types <= set(document["channels"]["groupSocket"]["x-seed-vocabulary"])


async def test_a_refusal_closes_with_a_documented_code(client: AppClient) -> None:
    codes = {entry["code"] for entry in asyncapi.build()["channels"]["socket"]["x-close-codes"]}
    async with AsgiWebSocket(client.app, "/ws", "token=not-a-token") as socket:
        code = await socket.close_code()
    assert code == 4401
    assert code in codes
