"""One WebSocket: its user, and one feed per followed group, over an Outbox (app/ws/fanout.py).

A feed keeps the last seq this socket was sent. Live sequenced frames are sent only when they are
exactly the next seq; a duplicate is dropped; a gap holds newer frames in `pending` for GAP_GRACE
while the overtaken frame arrives, and past that (or on a fresh subscription) a sync replays from the
store while newer live frames wait. So every committed message reaches
the socket once and in order, whatever the broker does.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app.domain.accounts.services import Principal
from app.errors import DEPENDENCY_DOWN
from app.ws.envelope import Kind
from app.ws.fanout import CloseCode, Outbox
from app.ws.protocol import Reset
from app.ws.reads import SharedReads

log = logging.getLogger("huddle.ws")
_ids = itertools.count(1)


def next_id() -> int:
    """A connection id unique in this worker (a stream takes one before its response starts)."""
    return next(_ids)


SYNC_BATCH = 100
PENDING_MAX = 2000  # live frames held during one sync; past it they are re-read from the store
# Workers publish in commit order only roughly: seq 8 can overtake seq 7 by a millisecond. A live gap
# waits this long for the missing frame before replaying from the store, which would cost every socket
# of the group a sync (and the worker a query) for a frame that was about to arrive.
GAP_GRACE = 0.25
# A client's messages queued for the store and not yet acknowledged. Each will queue its ack and its
# echo at once when its batch commits, so the bound stays well below the send queue: a client's own
# pipelining must not make it a slow consumer.
SENDS_IN_FLIGHT = 64


@dataclass(slots=True)
class Feed:
    last_seq: int = 0
    syncing: bool = True
    pending: list[tuple[int, Kind, int, str]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    gap_timer: asyncio.TimerHandle | None = None  # a live gap waits this out before asking the store

    def stop_waiting(self) -> None:
        if self.gap_timer is not None:
            self.gap_timer.cancel()
            self.gap_timer = None


class Connection(Outbox):
    """A socket's identity, the groups it follows and their order; sending is the Outbox's."""

    def __init__(
        self,
        send: Callable[[dict[str, Any]], Awaitable[Any]],
        principal: Principal,
        reads: SharedReads,
        *,
        queue_size: int,
        on_left: Callable[[Connection, int], None],
        initial_messages: int,
        resume_limit: int,
        follows_all: bool,
        coalesce: bool = False,
        seed_only: bool = False,
        connection_id: int | None = None,
    ) -> None:
        super().__init__(send, queue_size=queue_size, coalesce=coalesce)
        self.id = connection_id or next_id()
        self.follows_all = follows_all  # /ws follows every group of the user; /ws/group/{id} one
        # The seed's socket: only the seed's vocabulary (sequenced frames), no events, acks or hello.
        self.seed_only = seed_only
        self.principal = principal
        self.user_id = principal.user_id
        self.session_id = str(principal.session_id)
        self.feeds: dict[int, Feed] = {}
        self._reads = reads
        self._on_left = on_left
        self._initial = initial_messages
        self._resume_limit = resume_limit
        self.send_slots = asyncio.Semaphore(min(SENDS_IN_FLIGHT, max(1, queue_size // 8)))
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work for this socket in the background (it may outlive the socket: a send that is
        being committed is acknowledged if the socket is still open)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def push_event(self, frame: msgspec.Struct) -> None:
        """A frame beyond the seed's vocabulary (hello, acks, presence...): not on the seed socket."""
        if not self.seed_only:
            self.push_frame(frame)

    # -- receiving from the broker -----------------------------------------------------------------

    def deliver(self, group_id: int, seq: int, kind: Kind, subject: int, text: str) -> None:
        """Called once per socket for every event of a followed group: the common case (the next
        message, nothing held back) is two comparisons and a push."""
        feed = self.feeds.get(group_id)
        if feed is None:
            return
        if seq == feed.last_seq + 1 and kind is Kind.SEQUENCED and not feed.syncing and not feed.pending:
            feed.last_seq = seq
            self.push(text)
        elif seq == 0:  # an event, outside the group's sequence
            if not self.seed_only:
                self.push(text, droppable=kind is Kind.TYPING)
        elif feed.syncing:
            if len(feed.pending) < PENDING_MAX:
                feed.pending.append((seq, kind, subject, text))
        elif seq == feed.last_seq + 1:
            self._send_sequenced(group_id, feed, seq, kind, subject, text)
            if feed.pending and self.feeds.get(group_id) is feed and self._release_pending(group_id, feed):
                feed.stop_waiting()  # the frame that was overtaken arrived: the gap is closed
        elif seq > feed.last_seq:
            feed.pending.append((seq, kind, subject, text))
            if len(feed.pending) >= PENDING_MAX:
                self.follow(group_id, feed.last_seq)
            elif feed.gap_timer is None:
                feed.gap_timer = asyncio.get_running_loop().call_later(
                    GAP_GRACE, self._gap_persists, group_id, feed
                )

    def _gap_persists(self, group_id: int, feed: Feed) -> None:
        """The missing frame did not come live (a lost publish): fetch it from the store."""
        feed.gap_timer = None
        if self.feeds.get(group_id) is feed and feed.pending and not feed.syncing and self.close_code is None:
            self.follow(group_id, feed.last_seq)

    def _send_sequenced(
        self, group_id: int, feed: Feed, seq: int, kind: Kind, subject: int, text: str
    ) -> None:
        feed.last_seq = seq  # first: an event stream's write names the position it has reached
        self.push(text)
        if kind is Kind.LEFT and subject == self.user_id:
            self.stop_following(group_id)
            self._on_left(self, group_id)

    # -- following a group -------------------------------------------------------------------------

    def expect(self, group_id: int) -> None:
        """Hold live frames of a group until `follow` has replayed up to them."""
        self.feeds.setdefault(group_id, Feed())

    def follow(self, group_id: int, last_seq: int | None) -> Feed:
        """Start (or restart) replaying a group from `last_seq` (None: the latest messages)."""
        feed = self.feeds.get(group_id)
        if feed is None:
            feed = self.feeds[group_id] = Feed()
        feed.syncing = True
        feed.stop_waiting()
        if feed.task is None or feed.task.done():
            feed.task = asyncio.get_running_loop().create_task(self._sync(group_id, feed, last_seq))
        return feed

    def stop_following(self, group_id: int) -> None:
        feed = self.feeds.pop(group_id, None)
        if feed is None:
            return
        feed.stop_waiting()
        if feed.task is not None and feed.task is not asyncio.current_task():
            feed.task.cancel()

    async def _start_position(self, feed: Feed, group_id: int, last_seq: int | None, since: int) -> int:
        latest_seq = await self._reads.latest_seq(group_id, since)
        if last_seq is None:
            start = max(0, latest_seq - self._initial)
            # A frame that arrived live since the subscription (the read may already count it) is
            # new to this socket: replay from before it, or it would be taken for already seen.
            arrived = min((seq for seq, *_ in feed.pending), default=start + 1)
            return min(start, arrived - 1)
        if latest_seq - last_seq > self._resume_limit:
            self.push_frame(Reset(group_id=group_id, latest_seq=latest_seq))
            return latest_seq
        return min(last_seq, latest_seq)

    async def _sync(self, group_id: int, feed: Feed, last_seq: int | None) -> None:
        since = self._reads.ticket()  # this socket already receives the group's live frames
        try:
            if last_seq is None or feed.last_seq == 0:
                feed.last_seq = await self._start_position(feed, group_id, last_seq, since)
            while self.feeds.get(group_id) is feed and self.close_code is None:
                rows = await self._reads.after(group_id, feed.last_seq, SYNC_BATCH, since)
                for message in rows:
                    feed.last_seq = message.seq  # first, as in _send_sequenced
                    self.push(self.wrap(self._reads.text(message, self.user_id)))
                    if message.type == "leave" and message.author_id == self.user_id:
                        self.stop_following(group_id)
                        self._on_left(self, group_id)
                        return
                if len(rows) == SYNC_BATCH:
                    await self.room()
                    continue
                if self._release_pending(group_id, feed):
                    return
        except asyncio.CancelledError:
            raise
        except DEPENDENCY_DOWN as error:  # the message store or database is down: come back later
            log.warning("sync of group %s failed on a backing service: %s", group_id, type(error).__name__)
            self.close(CloseCode.TRY_AGAIN_LATER, "server busy: reconnect and resume")
        except Exception:
            log.exception("sync of group %s failed; closing the socket so the client resumes", group_id)
            self.close(CloseCode.INTERNAL, "sync failed: reconnect and resume")
        finally:
            # A finished task would stay reachable from its feed: ~0.6 KiB for every group a socket
            # or stream follows, for as long as it stays open.
            if feed.task is asyncio.current_task():
                feed.task = None

    def _release_pending(self, group_id: int, feed: Feed) -> bool:
        """Send buffered live frames in order; True when caught up (the feed is live again), False
        when they show a gap that only the store can fill. Runs without awaiting, so no frame can
        slip in between the last check and going live."""
        pending = sorted(feed.pending)
        feed.pending.clear()
        for index, (seq, kind, subject, text) in enumerate(pending):
            if seq <= feed.last_seq:
                continue
            if seq != feed.last_seq + 1:
                feed.pending.extend(pending[index:])
                return False
            self._send_sequenced(group_id, feed, seq, kind, subject, text)
            if group_id not in self.feeds:
                return True
        feed.syncing = False
        return True

    def stop_feeds(self) -> None:
        for group_id in list(self.feeds):
            self.stop_following(group_id)
