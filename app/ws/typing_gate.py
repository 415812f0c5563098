"""Which typing signals go out to a group: per user and group, on one worker.

A client says "typing" every 2 s while the box has text and "stopped" when it is cleared, the chat
left or the tab closed. What goes out: a start unless one went out less than `INTERVAL` ago and no
stop since (receivers show it ~5 s); a stop only after a start (or when this worker saw none: the
start may have gone through another worker); and never more than `BURST` signals per `INTERVAL`,
so a client flipping between the two cannot flood the group.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

INTERVAL = 2.0
BURST = 4
MAX_TRACKED = 100_000  # a worker forgets everyone past this many (user, group) pairs


@dataclass(slots=True)
class _Signals:
    started: float = 0.0  # when the last start went out; 0: none on this worker
    active: bool = False  # a start went out and no stop since
    window: float = 0.0  # the current INTERVAL's beginning
    sent: int = 0  # signals sent in it


class TypingGate:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._signals: dict[tuple[int, int], _Signals] = {}

    def allow(self, user_id: int, group_id: int, *, active: bool) -> bool:
        """Whether this start (`active`) or stop goes out; if so, it is counted."""
        now = self._clock()
        signals = self._signals.get((user_id, group_id))
        if signals is None:
            if len(self._signals) >= MAX_TRACKED:
                self._signals.clear()
            signals = self._signals[(user_id, group_id)] = _Signals()
        if active and signals.active and now - signals.started < INTERVAL:
            return False  # still showing on the receivers
        if not active and not signals.active and signals.started:
            return False  # nothing to stop
        if now - signals.window >= INTERVAL:
            signals.window, signals.sent = now, 0
        if signals.sent >= BURST:
            return False
        signals.sent += 1
        signals.active = active
        if active:
            signals.started = now
        return True
