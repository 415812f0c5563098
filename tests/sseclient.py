"""An SSE test client: reads `GET /api/v1/events` as a browser's EventSource does (events, `id:`
lines kept as the last event id, comments skipped) and waits for the events a test expects."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx

Event = dict[str, Any]


class EventStreamClient:
    def __init__(self, base_url: str, headers: dict[str, str], query: str = "") -> None:
        self.events: list[Event] = []  # each event's data, with its SSE name under "_event"
        self.last_id: str | None = None
        self.status: int | None = None
        self.headers_seen: httpx.Headers | None = None
        self.body_on_refusal = ""
        self._cursor = 0
        self._arrived = asyncio.Condition()
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=None))
        self._opened = asyncio.get_running_loop().create_future()
        self.ended = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._read(headers, query))

    @classmethod
    async def open(cls, base_url: str, headers: dict[str, str], query: str = "") -> EventStreamClient:
        client = cls(base_url, headers, query)
        await asyncio.wait_for(asyncio.shield(client._opened), 10)
        return client

    async def _read(self, headers: dict[str, str], query: str) -> None:
        try:
            async with self._client.stream("GET", "/api/v1/events" + query, headers=headers) as response:
                self.status, self.headers_seen = response.status_code, response.headers
                if response.status_code != 200:
                    self.body_on_refusal = (await response.aread()).decode()
                    self._opened.set_result(None)
                    return
                self._opened.set_result(None)
                name, data = "message", []
                async for line in response.aiter_lines():
                    if line.startswith(":"):
                        continue
                    if line == "":
                        if data:
                            await self._add({**json.loads("\n".join(data)), "_event": name})
                        name, data = "message", []
                        continue
                    field, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if field == "event":
                        name = value
                    elif field == "data":
                        data.append(value)
                    elif field == "id":
                        self.last_id = value
        except (httpx.HTTPError, asyncio.CancelledError):
            pass
        finally:
            if not self._opened.done():
                self._opened.set_result(None)
            if not self.ended.done():
                self.ended.set_result(None)
            async with self._arrived:
                self._arrived.notify_all()

    async def _add(self, event: Event) -> None:
        async with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()

    async def expect(self, match: Callable[[Event], bool] | str, timeout: float = 10) -> Event:
        predicate = (lambda e: e.get("type") == match) if isinstance(match, str) else match
        async with asyncio.timeout(timeout), self._arrived:
            while True:
                for index in range(self._cursor, len(self.events)):
                    if predicate(self.events[index]):
                        self._cursor = index + 1
                        return self.events[index]
                if self.ended.done():
                    raise AssertionError(f"stream ended before the event; saw {self.events[-5:]}")
                await self._arrived.wait()

    async def until(self, holds: Callable[[], bool], timeout: float = 10) -> None:
        """Until `holds()` is true of the events so far (events of different groups come in any order)."""
        async with asyncio.timeout(timeout), self._arrived:
            while not holds():
                if self.ended.done():
                    raise AssertionError(f"stream ended first; saw {self.events[-5:]}")
                await self._arrived.wait()

    def sequenced(self, group_id: int) -> list[int]:
        kinds = {"message", "add", "leave", "video_control"}
        return [e["seq"] for e in self.events if e.get("group_id") == group_id and e.get("type") in kinds]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._client.aclose()
