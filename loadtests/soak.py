"""`make soak`: steady mixed load for a bounded time, then check that nothing grew or leaked.

Starts Huddle (PostgreSQL + Redis, 2 workers, a fresh database and key prefix) and runs the Locust mix
of loadtests/locustfile.py against it (chat over HTTP, WebSocket users that send and reconnect now and
then, random 1 MiB ranges of an uploaded video) for `--duration` seconds, sampling the workers' RSS every
10 s. It passes when

- RSS after the warm-up (the first fifth of the run) grows by less than `--max-growth` (10%) by the end,
  comparing medians of the samples around both points, so one allocation spike decides nothing;
- once the load stops, every worker's connection registry is empty (sockets, users, groups, queued
  frames), the open-socket gauge is back to zero, and no group or user channel of the run is still
  subscribed in Redis (each worker keeps its one access channel while it runs);
- no request failed with a 5xx and no WebSocket got an error frame.

Writes docs/soak.md (and docs/soak/samples.csv); exits 1 when a check fails. Loopback only; the run
stops by itself after the duration plus a bounded drain.

    python -m loadtests.soak [--duration 600] [--users 40]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis

from loadtests.processes import HOST, HUDDLE_ENV, PG_ADMIN, PY, REDIS_URL, ROOT, huddle, log, memory_kib, run
from loadtests.seeding import sign_up

PORT = 8110
RUN = Path(os.environ.get("SOAK_RUN", "/tmp/huddle-soak"))
DOCS = ROOT / "docs"
SAMPLE_SECONDS = 10
SERVER_BROKE = re.compile(r"\b5\d\d\b|Connection(Refused|Reset)|RemoteDisconnected")
DRAIN_SECONDS = 60  # after the load: how long sockets may take to close and be cleaned up


def open_sockets(base: str) -> float:
    """The summed `huddle_ws_connections` gauge of every worker (GET /metrics, loopback)."""
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("huddle_ws_connections"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def registries(base: str, workers: int) -> dict[int, dict[str, Any]]:
    """`GET /api/v1/ws/stats` of every worker: asks until each worker pid has answered."""
    with httpx.Client(base_url=base, timeout=10) as http:
        auth = sign_up(http, "soak")
    seen: dict[int, dict[str, Any]] = {}
    for _ in range(200):
        # A new connection each time: the kernel hands connections, not requests, to the workers.
        with httpx.Client(base_url=base, timeout=10) as http:
            stats = http.get("/api/v1/ws/stats", headers=auth).raise_for_status().json()
        seen[stats["worker_pid"]] = stats
        if len(seen) == workers:
            break
    return seen


def median_around(samples: list[dict[str, Any]], at: float, width: float = 30.0) -> float:
    near = [s["rss_kib"] for s in samples if abs(s["t"] - at) <= width]
    return float(statistics.median(near))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=600, help="seconds of load (default 600)")
    parser.add_argument("--users", type=int, default=40, help="Locust users (default 40)")
    parser.add_argument("--max-growth", type=float, default=0.10, help="allowed RSS growth after warm-up")
    parser.add_argument("--no-docs", action="store_true", help="print the result only")
    args = parser.parse_args()

    shutil.rmtree(RUN, ignore_errors=True)
    RUN.mkdir(parents=True)
    database = f"huddle_soak_{uuid.uuid4().hex[:8]}"
    prefix = f"huddle-soak:{uuid.uuid4().hex[:8]}:"
    run(["psql", PG_ADMIN, "-qc", f'CREATE DATABASE "{database}"'], timeout=60)
    database_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + database
    base = f"http://{HOST}:{PORT}"
    samples: list[dict[str, Any]] = []
    checks: dict[str, tuple[bool, str]] = {}
    try:
        run([PY, "-m", "app", "migrate"], timeout=300, env={**HUDDLE_ENV, "DATABASE_URL": database_url})
        env = {"REDIS_KEY_PREFIX": prefix}
        with huddle("soak", 2, database_url, redis=True, port=PORT, run_dir=RUN, env=env) as server:
            pids = server.workers()
            log(f"soak: {args.users} users for {args.duration} s against {base} (workers {pids})")
            locust = subprocess.Popen(
                [PY, "-m", "loadtests.loadtest", "--host", base, "--users", str(args.users), "--ramp", "5"]
                + ["--duration", f"{args.duration}s", "--out", str(RUN / "locust")],
                cwd=ROOT,
                stdout=(RUN / "locust.log").open("w"),
                stderr=subprocess.STDOUT,
            )
            started = time.monotonic()
            while locust.poll() is None and time.monotonic() - started < args.duration + 300:
                elapsed = time.monotonic() - started
                memory = memory_kib(pids)
                samples.append({"t": round(elapsed), "rss_kib": memory["rss"], "sockets": open_sockets(base)})
                log(
                    f"  t={elapsed:.0f}s rss={memory['rss'] / 1024:.0f} MiB sockets={samples[-1]['sockets']:.0f}"
                )
                time.sleep(SAMPLE_SECONDS)
            if locust.poll() is None:
                locust.kill()
            locust.wait(timeout=30)

            deadline = time.monotonic() + DRAIN_SECONDS
            while open_sockets(base) > 0 and time.monotonic() < deadline:
                time.sleep(1)
            gauge = open_sockets(base)
            stats = registries(base, len(pids))
            counts = ("sockets", "users", "groups", "queued_frames")
            leftover = {pid: {k: s[k] for k in counts if s[k]} for pid, s in stats.items()}
            leftover = {pid: left for pid, left in leftover.items() if left}
            client = redis.Redis.from_url(REDIS_URL)
            # Group and user channels follow sockets; the access channel stays while a worker runs.
            channels = sorted(
                c.decode()
                for pattern in (f"{prefix}g:*", f"{prefix}u:*")
                for c in client.pubsub_channels(pattern)  # type: ignore[union-attr]
            )
            client.close()
            end_rss = memory_kib(pids)["rss"]

        warm = args.duration / 5
        loaded = [s for s in samples if s["t"] <= args.duration]
        at_warm, at_end = median_around(loaded, warm), median_around(loaded, loaded[-1]["t"])
        growth = at_end / at_warm - 1
        checks["rss growth after warm-up"] = (
            growth < args.max_growth,
            f"{at_warm / 1024:.0f} MiB at {warm:.0f} s → {at_end / 1024:.0f} MiB at the end ({growth:+.1%}; "
            f"limit {args.max_growth:.0%}); {end_rss / 1024:.0f} MiB after the drain",
        )
        checks["connection registries empty"] = (
            len(stats) == len(pids) and not any(leftover.values()) and gauge == 0,
            f"{len(stats)} of {len(pids)} workers answered; leftovers {leftover or 'none'}; open-socket gauge "
            f"{gauge:.0f}",
        )
        checks["no pub/sub channel left"] = (not channels, ", ".join(channels) or "none subscribed")
        failures = locust_failures(RUN / "locust")
        checks["no server errors"] = (not failures, "; ".join(failures) or "no 5xx, no error frames")
        requests = locust_requests(RUN / "locust")
    finally:
        run(
            ["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'],
            timeout=60,
            check=False,
        )

    passed = all(ok for ok, _ in checks.values())
    result = {
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "duration_s": args.duration,
        "users": args.users,
        "requests": requests,
        "checks": {name: {"passed": ok, "detail": detail} for name, (ok, detail) in checks.items()},
        "passed": passed,
    }
    print(json.dumps(result, indent=1))
    if not args.no_docs:
        write_report(result, samples)
    sys.exit(0 if passed else 1)


def locust_rows(out: Path) -> list[dict[str, str]]:
    stats = out / "huddle_stats.csv"
    if not stats.exists():
        return []
    with stats.open() as handle:
        return [row for row in csv.DictReader(handle) if row["Name"] != "Aggregated"]


def locust_requests(out: Path) -> dict[str, int]:
    return {f"{r['Type']} {r['Name']}": int(r["Request Count"]) for r in locust_rows(out)}


def locust_failures(out: Path) -> list[str]:
    """Failures that mean the server broke: 5xx responses and WebSocket error frames."""
    path = out / "huddle_failures.csv"
    if not path.exists():
        return ["no Locust report (the load did not run)"]
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    bad = [r for r in rows if SERVER_BROKE.search(r["Error"]) or r["Name"] == "error frame"]
    return [f"{r['Method']} {r['Name']}: {r['Error']} x{r['Occurrences']}" for r in bad]


def write_report(result: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    folder = DOCS / "soak"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "samples.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["t", "rss_kib", "sockets"])
        writer.writeheader()
        writer.writerows(samples)
    lines = [
        "# Soak result",
        "",
        "Generated by `make soak` (loadtests/soak.py); the method is in that file's docstring and in",
        "[reliability.md](reliability.md). Huddle on PostgreSQL + Redis, 2 Granian workers, on a 2-core",
        "machine with the Locust load generator beside it.",
        "",
        f"- Finished {result['finished']}: {result['duration_s']} s of load, {result['users']} Locust users.",
        f"- Verdict: **{'passed' if result['passed'] else 'FAILED'}**.",
        "",
        "| check | result | detail |",
        "|---|---|---|",
    ]
    for name, check in result["checks"].items():
        lines.append(f"| {name} | {'pass' if check['passed'] else 'FAIL'} | {check['detail']} |")
    lines += ["", "| request | count |", "|---|---:|"]
    lines += [f"| {name} | {count:,} |" for name, count in result["requests"].items()]
    lines += [
        "",
        "RSS of both workers and open sockets, every 10 s: [soak/samples.csv](soak/samples.csv).",
        "",
    ]
    (DOCS / "soak.md").write_text("\n".join(lines))
    log(f"wrote {DOCS / 'soak.md'}")


if __name__ == "__main__":
    main()
