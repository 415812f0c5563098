"""Which user may stream which video, remembered by each worker for a few seconds.

A player asks for range after range of one video with the same signed URL, and asking the database
each time whether the link's user still belongs to the video's group was most of a range's cost. A
worker remembers each yes, with the blob to read, for GRANT_SECONDS. Whatever can take access away (a
member removed or leaving, a group or video deleted or renamed, an account deleted) goes through
`Events`, which clears this worker's grants at once and every other worker's when its broadcast
arrives, milliseconds later. GRANT_SECONDS only bounds a broadcast lost to a Redis outage, and a
worker whose broker reconnects clears its grants too.
"""

from __future__ import annotations

import time

GRANT_SECONDS = 5.0
GRANTS_LIMIT = 50_000  # past it the worker starts over: memory stays bounded whatever the traffic

Blob = tuple[str, str, str]  # blob key, download name, the original's key (signed links are bound to it)


class StreamGrants:
    def __init__(self) -> None:
        self._grants: dict[tuple[int, int, str], tuple[float, Blob]] = {}
        # Bumped by every clear: an answer the database gave before a change is not remembered after it.
        self.generation = 0

    def get(self, user_id: int, video_id: int, quality: str) -> Blob | None:
        grant = self._grants.get((user_id, video_id, quality))
        if grant is None:
            return None
        granted, blob = grant
        if time.monotonic() - granted > GRANT_SECONDS:
            del self._grants[(user_id, video_id, quality)]
            return None
        return blob

    def put(self, user_id: int, video_id: int, quality: str, blob: Blob, *, asked: int) -> None:
        """Remember a yes the database gave to a question asked at generation `asked`."""
        if asked != self.generation:
            return  # access changed while the question was out: the answer may be stale
        if len(self._grants) >= GRANTS_LIMIT:
            self._grants.clear()
        self._grants[(user_id, video_id, quality)] = (time.monotonic(), blob)

    def clear(self) -> None:
        self.generation += 1
        self._grants.clear()

    def __len__(self) -> int:
        return len(self._grants)
