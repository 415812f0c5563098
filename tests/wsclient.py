"""A WebSocket test client that records every frame and waits for the ones a test expects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from tests.helpers import PASSWORD

Frame = dict[str, Any]


class WSClient:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames: list[Frame] = []  # every event, in order (a huddle.v2 frame may carry several)
        self.raw_frames: list[str] = []  # what came over the wire, frame by frame
        self._cursor = 0
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
                    self.frames.extend(json.loads(line) for line in str(raw).split("\n"))
                    self._arrived.notify_all()
        except websockets.ConnectionClosed:
            pass
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
