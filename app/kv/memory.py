"""In-process shared state for the single-worker embedded mode."""

from __future__ import annotations

import math
import time

_SWEEP_EVERY = 1024


class MemoryState:
    def __init__(self) -> None:
        self._counters: dict[str, tuple[int, float]] = {}
        self._claims: dict[str, float] = {}
        self._ops = 0

    def _sweep(self, now: float) -> None:
        # Bounded memory: drop expired keys every so often rather than on every call.
        self._ops += 1
        if self._ops % _SWEEP_EVERY:
            return
        self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
        self._claims = {k: v for k, v in self._claims.items() if v > now}

    async def hit(self, key: str, limit: int, window_seconds: int) -> int:
        now = time.monotonic()
        self._sweep(now)
        count, reset_at = self._counters.get(key, (0, 0.0))
        if reset_at <= now:
            count, reset_at = 0, now + window_seconds
        count += 1
        self._counters[key] = (count, reset_at)
        return 0 if count <= limit else max(1, math.ceil(reset_at - now))

    async def peek(self, key: str) -> tuple[int, int]:
        now = time.monotonic()
        count, reset_at = self._counters.get(key, (0, 0.0))
        if reset_at <= now:
            return 0, 0
        return count, max(1, math.ceil(reset_at - now))

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        now = time.monotonic()
        self._sweep(now)
        if self._claims.get(key, 0.0) > now:
            return False
        self._claims[key] = now + ttl_seconds
        return True

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._counters.clear()
        self._claims.clear()
