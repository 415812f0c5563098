"""Every Prometheus metric of the app, and the functions the rest of the code calls to record them.

Under `huddle run` each Granian worker writes to the shared multiprocess directory and `/metrics`
(any worker) sums them all; elsewhere (tests, another ASGI server) the process registry is used.
Labels never carry ids: HTTP series are keyed by the route's path template.

Hooks for the real-time gateway and the media code:
    frames_received(n), frames_sent(n)       client frames decoded / server frames written
    observe_fanout_delay(seconds)            publish -> handed to a local socket's queue
    slow_consumer_disconnected()             a socket closed because its send queue was full
    broker_reconnected()                     the broker's Redis subscription came back
    upload_bytes(n), stream_bytes(n)         media bytes received / sent
    player_lane_answered()                   a signed video range answered before the router
HTTP requests and open sockets (accept to close) are recorded by `app.observability.middleware`:
nothing else calls `observe_http`, `socket_opened` or `socket_closed`.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.observability.multiproc import ENV, dead_worker_pids

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED_ROUTE = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_FANOUT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

HTTP_REQUESTS = Counter(
    "huddle_http_requests", "HTTP requests served, by route template", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "huddle_http_request_duration_seconds",
    "Time to the end of the response, by route template",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
# livesum: a killed worker's sockets are gone, so its file is dropped (see `render`).
WS_OPEN = Gauge("huddle_ws_connections", "Open WebSocket connections", multiprocess_mode="livesum")
WS_FRAMES_IN = Counter("huddle_ws_frames_received", "WebSocket frames received from clients")
WS_FRAMES_OUT = Counter(
    "huddle_ws_frames_sent", "WebSocket frames sent to clients (written every 512 frames and every 15 s)"
)
FANOUT_DELAY = Histogram(
    "huddle_ws_fanout_delay_seconds",
    "Delay from publishing an event to queueing it on a local socket",
    buckets=_FANOUT_BUCKETS,
)
SLOW_CONSUMERS = Counter(
    "huddle_ws_slow_consumer_disconnects", "Sockets closed because they could not keep up"
)
BROKER_RECONNECTS = Counter("huddle_broker_reconnects", "Broker (Redis pub/sub) reconnections")
UPLOAD_BYTES = Counter("huddle_upload_bytes", "Media bytes received in uploads")
STREAM_BYTES = Counter("huddle_stream_bytes", "Media bytes sent by streaming responses")
PLAYER_LANE = Counter(
    "huddle_player_lane_answers",
    "Signed video range requests answered before the router (app/server/player_lane.py)",
)


# Each (method, route, status)'s two series, looked up once: `labels()` validates and locks on every
# call. Bounded as the series are: known methods, route templates, status codes.
_http_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "OTHER"  # junk methods must not mint series
    series = _http_series.get((method, route, status))
    if series is None:
        series = HTTP_REQUESTS.labels(method, route, str(status)), HTTP_DURATION.labels(method, route)
        _http_series[method, route, status] = series
    series[0].inc()
    series[1].observe(seconds)


def socket_opened() -> None:
    WS_OPEN.inc()


def socket_closed() -> None:
    WS_OPEN.dec()


def frames_received(count: int = 1) -> None:
    WS_FRAMES_IN.inc(count)


_frames_sent_unflushed = 0
FRAMES_SENT_FLUSH = 512  # fan-out sends thousands of frames a second: count them here, write in batches


def frames_sent(count: int = 1) -> None:
    """Counted in memory and written to the (file-backed, multiprocess) counter every 512 frames and by
    `flush_frames_sent`, which the gateway's upkeep calls every few seconds."""
    global _frames_sent_unflushed  # noqa: PLW0603 -- one counter per process, on the event loop
    _frames_sent_unflushed += count
    if _frames_sent_unflushed >= FRAMES_SENT_FLUSH:
        flush_frames_sent()


def flush_frames_sent() -> None:
    global _frames_sent_unflushed  # noqa: PLW0603
    if _frames_sent_unflushed:
        WS_FRAMES_OUT.inc(_frames_sent_unflushed)
        _frames_sent_unflushed = 0


def observe_fanout_delay(seconds: float) -> None:
    FANOUT_DELAY.observe(max(0.0, seconds))


def slow_consumer_disconnected() -> None:
    SLOW_CONSUMERS.inc()


def broker_reconnected() -> None:
    BROKER_RECONNECTS.inc()


def upload_bytes(count: int) -> None:
    UPLOAD_BYTES.inc(count)


def stream_bytes(count: int) -> None:
    STREAM_BYTES.inc(count)


def player_lane_answered() -> None:
    PLAYER_LANE.inc()


def render() -> bytes:
    """The exposition text: every worker's samples summed in multiprocess mode. Blocking file reads:
    call it from a thread."""
    directory = os.environ.get(ENV)
    if not directory:
        return generate_latest(REGISTRY)
    for pid in dead_worker_pids(Path(directory)):
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
