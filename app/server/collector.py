"""Garbage-collector settings for a worker serving many long-lived sockets.

With CPython's defaults, a full (generation 2) collection walks every tracked object: the whole app
(Litestar, SQLAlchemy, msgspec types) plus every socket's objects. Under a thousand sockets it paused
a worker for up to ~300 ms a few times a minute, which is most of the fan-out's p99 (measured with
gc.callbacks; docs/benchmarks.md). So once the app is built, its objects are frozen (never scanned
again; they live as long as the worker anyway), and collections are made rarer: they are triggered
by net growth of tracked objects, which a busy socket server barely has (a frame's futures and
tasks are freed as soon as it is sent, and a closed socket's objects by reference counting alone:
tests/integration/test_socket_garbage.py keeps it so).
"""

from __future__ import annotations

import gc

# Net new tracked objects before a young collection (default 700); young collections before a middle
# one (default 10); middle ones before a full one (default 10, and CPython also waits until the
# long-lived objects grew by a quarter).
THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """Call once per worker, once the app is built: everything allocated so far is frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
