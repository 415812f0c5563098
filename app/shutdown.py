"""A step before Granian stops a worker: WebSockets close with 1012 (restarting) instead of 1006.

Granian drops open sockets as soon as its worker gets SIGTERM or SIGINT, before the application's
lifespan shutdown runs, so closing them there is too late. `huddle run` keeps hold of the event
Granian's signal handler sets (by wrapping `granian._signals.set_loop_signals` before the workers
fork); the gateway then takes over SIGTERM and SIGINT: it closes its sockets first and sets that event
a moment later. It needs no event-loop internals, so it works on uvloop as on asyncio. Served some
other way (e.g. `granian app.server.asgi:app`), the courtesy is skipped and sockets close with 1006.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import granian._signals as granian_signals

_worker_stop: list[Any] = []  # the event that stops this Granian worker, once Granian created it
_steps: list[tuple[Callable[[], None], float]] = []  # what runs first, and how long it may take


def capture_worker_stop() -> None:
    """In `huddle run`'s main process, before Granian forks its workers."""
    original = granian_signals.set_loop_signals
    if getattr(original, "captures_worker_stop", False):
        return

    def set_loop_signals(loop: asyncio.AbstractEventLoop) -> Any:
        event = original(loop)  # type: ignore[no-untyped-call]
        _worker_stop.append(event)
        return event

    set_loop_signals.captures_worker_stop = True  # type: ignore[attr-defined]
    granian_signals.set_loop_signals = set_loop_signals


def before_worker_stops(first: Callable[[], None], grace: float) -> bool:
    """On SIGTERM/SIGINT run `first`, then stop the worker `grace` seconds later. False when this
    process is no worker of `huddle run`. Each caller's step runs (the gateway's, the transcode
    runner's); the worker stops after the longest grace."""
    if not _worker_stop:
        return False
    stop, loop = _worker_stop[-1], asyncio.get_running_loop()
    _steps.append((first, grace))

    def on_signal() -> None:
        for step, _ in _steps:
            step()
        loop.call_later(max(wait for _, wait in _steps), stop.set)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    return True
