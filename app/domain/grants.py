"""What each worker remembers it was allowed, for a few seconds: who may stream which video, who
belongs to which group.

A player asks for range after range of one video with the same signed URL, and a busy member sends
message after message; asking the database each time whether the user still belongs to the group
was most of a range's cost and a round trip of every message's write. A worker remembers each yes
for GRANT_SECONDS. Whatever can take access away (a member removed or leaving, a group or video
deleted or renamed, an account deleted) goes through `Events`, which clears this worker's grants at
once and every other worker's when its broadcast arrives, milliseconds later. GRANT_SECONDS only
bounds a broadcast lost to a Redis outage, and a worker whose broker reconnects clears its grants too.
A no is never remembered: someone just added is a member at once.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

GRANT_SECONDS = 5.0
GRANTS_LIMIT = 50_000  # past it the worker starts over: memory stays bounded whatever the traffic

Blob = tuple[str, str, str]  # blob key, download name, the original's key (signed links are bound to it)


def stream_grant(user_id: int, video_id: int, quality: str) -> Hashable:
    """The key of a user's grant to stream one quality of a video; its value is the `Blob` to read."""
    return ("stream", user_id, video_id, quality)


def member_grant(group_id: int, user_id: int) -> Hashable:
    """The key of a user's membership of a group; its value is whether the group is a direct chat."""
    return ("member", group_id, user_id)


class Grants:
    def __init__(self) -> None:
        self._grants: dict[Hashable, tuple[float, Any]] = {}
        # Bumped by every clear: an answer the database gave before a change is not remembered after it.
        self.generation = 0

    def get(self, key: Hashable) -> Any | None:
        grant = self._grants.get(key)
        if grant is None:
            return None
        granted, value = grant
        if time.monotonic() - granted > GRANT_SECONDS:
            del self._grants[key]
            return None
        return value

    def put(self, key: Hashable, value: Any, *, asked: int) -> None:
        """Remember a yes the database gave to a question asked at generation `asked`."""
        if asked != self.generation:
            return  # access changed while the question was out: the answer may be stale
        if len(self._grants) >= GRANTS_LIMIT:
            self._grants.clear()
        self._grants[key] = (time.monotonic(), value)

    def clear(self) -> None:
        self.generation += 1
        self._grants.clear()

    def __len__(self) -> int:
        return len(self._grants)
