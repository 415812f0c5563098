"""A WebSocket client speaking ASGI straight to the app (httpx has no WebSocket support), so tests see
exactly the frames the real gateway, registry and broker deliver to a socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import msgspec
from litestar import Litestar


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
        return frame

    async def events(self, timeout: float = 5) -> list[dict[str, Any]]:
        """Every event of the next frame: a huddle.v2 frame carries one JSON object per line."""
        message = await asyncio.wait_for(self._outbox.get(), timeout)
        assert message["type"] == "websocket.send", message
        text = message.get("text") or (message.get("bytes") or b"").decode()
        return [msgspec.json.decode(line) for line in text.split("\n")]

    async def until(self, accept: Callable[[dict[str, Any]], bool], timeout: float = 5) -> dict[str, Any]:
        """The first frame `accept` likes, skipping others (hello, presence, history...)."""
        async with asyncio.timeout(timeout):
            while not accept(frame := await self.frame(timeout)):
                pass
        return frame
