"""The WebSocket test clients: `WSClient` over a real socket (end-to-end), `AsgiWebSocket` speaking ASGI
straight to the app (httpx has no WebSocket support). Both check every event they receive against the
protocol's tagged union (`app.ws.protocol.ServerFrame`), so a frame that drifts from its declared
shape fails the test that receives it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import msgspec
import websockets
from litestar import Litestar
from websockets.asyncio.client import ClientConnection

from app.ws.protocol import SERVER_FRAMES, ServerFrame
from tests.helpers import PASSWORD

Frame = dict[str, Any]
# Each frame type's wire fields: an event carrying a field its frame does not declare has drifted.
_FIELDS = {
    str(frame.__struct_config__.tag): {"type", *frame.__struct_encode_fields__} for frame in SERVER_FRAMES
}


def checked(event: Frame) -> Frame:
    """The event as received, once it decodes as the frame its `type` names and carries no other field."""
    msgspec.convert(event, ServerFrame)  # raises msgspec.ValidationError: a wrong type or a missing field
    undeclared = set(event) - _FIELDS[event["type"]]
    assert not undeclared, f"{event['type']} carries undeclared fields {sorted(undeclared)}: {event}"
    return event


class WSClient:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames: list[Frame] = []  # every event, in order (a huddle.v2 frame may carry several)
        self.raw_frames: list[str] = []  # what came over the wire, frame by frame
        self._cursor = 0
        self.drifted: Exception | None = None
        self._arrived = asyncio.Condition()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.closed: asyncio.Future[tuple[int | None, str]] = asyncio.get_running_loop().create_future()

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> WSClient:
        return cls(await websockets.connect(url, open_timeout=10, max_size=2**24, **kwargs))

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                async with self._arrived:
                    self.raw_frames.append(str(raw))
                    self.frames.extend(checked(json.loads(line)) for line in str(raw).split("\n"))
                    self._arrived.notify_all()
        except websockets.ConnectionClosed:
            pass
        except (AssertionError, msgspec.ValidationError) as error:  # a frame drifted from its shape
            self.drifted = error
        finally:
            if not self.closed.done():
                self.closed.set_result((self.connection.close_code, self.connection.close_reason or ""))
            async with self._arrived:
                self._arrived.notify_all()

    async def send(self, frame: Frame | str) -> None:
        await self.connection.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def expect(self, match: Callable[[Frame], bool] | str, timeout: float = 10) -> Frame:
        """The next frame (after the previous expectation) that matches a predicate or a type."""
        predicate = (lambda f: f.get("type") == match) if isinstance(match, str) else match
        async with asyncio.timeout(timeout), self._arrived:
            while True:
                if self.drifted is not None:
                    raise self.drifted
                for index in range(self._cursor, len(self.frames)):
                    if predicate(self.frames[index]):
                        self._cursor = index + 1
                        return self.frames[index]
                if self.closed.done():
                    raise AssertionError(
                        f"socket closed {self.closed.result()} before the frame; saw {self.frames[-5:]}"
                    )
                await self._arrived.wait()

    async def close_code(self, timeout: float = 10) -> tuple[int | None, str]:
        return await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    def sequenced(self, group_id: int) -> list[int]:
        return [f["seq"] for f in self.frames if f.get("group_id") == group_id and f.get("type") in SEQUENCED]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.connection.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


SEQUENCED = {"message", "add", "leave", "video_control"}


@dataclass
class User:
    email: str
    token: str
    user_id: int
    name: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_up(http: httpx.AsyncClient, name: str = "User") -> User:
    email = f"{name.lower().replace(' ', '')}-{uuid.uuid4().hex[:10]}@example.com"
    response = await http.post("/register", json={"email": email, "name": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    return User(email, body["access_token"], body["user"]["id"], name)


async def group_with(http: httpx.AsyncClient, owner: User, *members: User, name: str = "Room") -> int:
    response = await http.post("/groups", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    group_id = int(response.json()["id"])
    for member in members:
        added = await http.post(
            f"/groups/{group_id}/members", json={"email": member.email}, headers=owner.headers
        )
        assert added.status_code == 201, added.text
    return group_id


async def ticket(http: httpx.AsyncClient, user: User) -> str:
    response = await http.post("/api/v1/auth/ws-ticket", headers=user.headers)
    assert response.status_code == 201
    return str(response.json()["ticket"])


class AsgiWebSocket:
    def __init__(self, app: Litestar, path: str, query: str = "", subprotocols: Sequence[str] = ()) -> None:
        self._app = app
        self._scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(b"host", b"testserver")]
            + ([(b"sec-websocket-protocol", ", ".join(subprotocols).encode())] if subprotocols else []),
            "subprotocols": list(subprotocols),
            "extensions": {},
        }
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.subprotocol: str | None = None  # the one the server selected

    async def __aenter__(self) -> AsgiWebSocket:
        await self._inbox.put({"type": "websocket.connect"})
        self._task = asyncio.get_running_loop().create_task(
            self._app(self._scope, self._inbox.get, self._outbox.put)  # type: ignore[arg-type]
        )
        accepted = await asyncio.wait_for(self._outbox.get(), 5)
        assert accepted["type"] == "websocket.accept", accepted
        self.subprotocol = accepted.get("subprotocol")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._inbox.put({"type": "websocket.disconnect", "code": 1000})
        if self._task is not None:
            await asyncio.wait_for(self._task, 5)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.send_text(msgspec.json.encode(frame).decode())

    async def send_text(self, text: str) -> None:
        await self._inbox.put({"type": "websocket.receive", "text": text})

    async def close_code(self, timeout: float = 5) -> int:
        """The code the server closed with, skipping the frames before it."""
        return (await self.closed(timeout))[0]

    async def closed(self, timeout: float = 5) -> tuple[int, str]:
        """The code and reason the server closed with, skipping the frames before it."""
        async with asyncio.timeout(timeout):
            while (message := await self._outbox.get())["type"] != "websocket.close":
                pass
        return int(message["code"]), str(message.get("reason") or "")

    async def frame(self, timeout: float = 5) -> dict[str, Any]:
        message = await asyncio.wait_for(self._outbox.get(), timeout)
        assert message["type"] == "websocket.send", message
        frame: dict[str, Any] = msgspec.json.decode(message.get("text") or message.get("bytes") or b"")
        return checked(frame)

    async def events(self, timeout: float = 5) -> list[dict[str, Any]]:
        """Every event of the next frame: a huddle.v2 frame carries one JSON object per line."""
        message = await asyncio.wait_for(self._outbox.get(), timeout)
        assert message["type"] == "websocket.send", message
        text = message.get("text") or (message.get("bytes") or b"").decode()
        return [checked(msgspec.json.decode(line)) for line in text.split("\n")]

    async def until(self, accept: Callable[[dict[str, Any]], bool], timeout: float = 5) -> dict[str, Any]:
        """The first frame `accept` likes, skipping others (hello, presence, history...)."""
        async with asyncio.timeout(timeout):
            while not accept(frame := await self.frame(timeout)):
                pass
        return frame
