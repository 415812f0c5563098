"""Short-lived state every worker must agree on: rate-limit counters and single-use claims.

Redis when `REDIS_URL` is set (atomic across workers and replicas); process memory in the embedded
mode, which runs exactly one worker.
"""

from __future__ import annotations

from typing import Protocol


class SharedState(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> int:
        """Count one event in a fixed window; return 0 when allowed, else the seconds until it is."""
        ...

    async def peek(self, key: str) -> tuple[int, int]:
        """The events `hit` counted in the key's current window, and the seconds until it ends (0, 0
        when none): to refuse before doing work that is counted only when it fails."""
        ...

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        """True for the first caller only until the key expires (single-use tokens)."""
        ...

    async def ping(self) -> None:
        """Raise when the backing service is unreachable."""
        ...

    async def close(self) -> None: ...
