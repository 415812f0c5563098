"""Render docs/bench/results.json (written by `make bench`) as plots and the generated part of
docs/benchmarks.md, between the `bench:begin` and `bench:end` markers (the rest is written by hand).

    python -m loadtests.report   # re-render from the last results.json
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
NAMES = {
    "huddle": "Huddle `/ws`, huddle.v2",
    "huddle_seed": "Huddle seed path `/ws/group/{id}`",
    "huddle_sse": "Huddle Server-Sent Events `/api/v1/events` (senders over HTTP)",
    "fastapi": "FastAPI peer",
    "socketio": "Socket.IO peer",
    "nginx": "nginx",
    "relay": "floor: bare Granian relay (no auth, database, history or presence)",
    "relay_coalescing": "floor: the same relay, coalescing as huddle.v2 does",
}
SHORT = {
    "huddle": "Huddle v2",
    "huddle_seed": "Huddle seed",
    "huddle_sse": "Huddle SSE",
    "fastapi": "FastAPI",
    "socketio": "Socket.IO",
}
CPU = "server_cpu_us_per_delivery"


def med(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if r.get(key) is not None]
    return float(statistics.median(values)) if values else float("nan")


def spread(runs: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in runs if r.get(key) is not None]
    if len(values) < 2:
        return ""
    return f" ({min(values):g}–{max(values):g})"


def plots(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for target, by_n in results["fanout"].items():
        counts = sorted(int(n) for n in by_n)
        ax.plot(
            counts, [med(by_n[str(n)], "delivered_per_s") for n in counts], marker="o", label=SHORT[target]
        )
    ax.set_xlabel("WebSocket connections in one group")
    ax.set_ylabel("deliveries / s (median)")
    ax.set_title("Fan-out throughput: 2 senders, window 16, 2 workers each")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "fanout_throughput.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    top = top_of(results)
    targets = list(results["fanout"])
    for ax, (title, source) in zip(
        axes,
        [
            (f"closed loop (max rate), {top} sockets", {t: results["fanout"][t][top] for t in targets}),
            (
                f"open loop at {results['latency_half_rate']['rate_per_sender'] * 2} msg/s, {top} sockets",
                results["latency_half_rate"]["runs"],
            ),
        ],
        strict=True,
    ):
        shown = [t for t in targets if t in source]  # the SSE driver runs closed-loop only
        x = range(len(shown))
        p50 = [med(source[t], "p50_ms") for t in shown]
        p99 = [med(source[t], "p99_ms") for t in shown]
        ax.bar([i - 0.2 for i in x], p50, width=0.4, label="p50")
        ax.bar([i + 0.2 for i in x], p99, width=0.4, label="p99")
        ax.set_xticks(list(x), [SHORT[t] for t in shown])
        ax.set_ylabel("delivery latency, ms (median of runs)")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="y")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "fanout_latency.png", dpi=110)
    plt.close(fig)


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "n/a"


OFFLOAD_ROWS = {
    "offload": "the repository's nginx balancer, `STREAM_OFFLOAD=nginx` (Huddle authorizes, nginx sends)",
    "floor": "floor: the same balancer before a bare Granian app that answers the same `X-Accel-Redirect` and checks nothing",
    "balancer": "the same balancer, Huddle streaming (the default)",
    "huddle": "Huddle alone (the default, no balancer)",
    "nginx": "nginx alone (the peers' configuration, no authorization)",
}


def offload_lines(results: dict[str, Any]) -> list[str]:
    """The offload phase: throughput beside bare nginx, and what each stream costs the servers."""
    phase = results.get("offload")
    if not phase:
        return []
    runs = phase["runs"]
    bare = med(runs["nginx"], "MiB_per_s")
    lines = [
        "",
        f"### Range streaming offloaded to nginx: {results['parameters']['range']}",
        "",
        "Huddle: 2 workers, a signed URL (every request authorized: signature, membership); nginx: 2 "
        "workers. CPU is the serving processes' (Huddle's workers and nginx's master and workers) over "
        "the run, in cores and per stream (one of the 64 connections); memory is their resident set "
        "before the run and at its peak.",
        "",
        "| path | MiB/s | ÷ nginx alone | p99 ms | errors | CPU cores | % of a core per stream |"
        " CPU ms per MiB sent | RSS MiB before → peak | KiB per stream |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target, name in OFFLOAD_ROWS.items():
        rows = runs.get(target) or []
        if not rows:
            continue
        rate = med(rows, "MiB_per_s")
        lines.append(
            f"| {name} | {rate:,.1f}{spread(rows, 'MiB_per_s')} | {ratio(rate, bare)} | "
            f"{med(rows, 'p99_ms'):g} | {sum(r['errors'] for r in rows)} | {med(rows, 'cpu_cores'):.2f} | "
            f"{med(rows, 'cpu_percent_per_stream'):.2f} | {med(rows, 'cpu_cores') * 1000 / rate:.2f} | "
            f"{med(rows, 'rss_kib_before') / 1024:.0f} → "
            f"{med(rows, 'rss_kib_peak') / 1024:.0f} | {med(rows, 'kib_per_stream'):.0f} |"
        )
    return lines


def fanout_table(results: dict[str, Any], count: str) -> list[str]:
    p = results["parameters"]
    lines = [
        "",
        f"### Fan-out: {count} sockets in one group, {p['senders']} senders, window {p['window']}, "
        f"{p['messages_per_sender']} messages per sender",
        "",
        "| target | deliveries/s | server CPU µs/delivery | p50 ms | p99 ms | Huddle v2 ÷ target: rate | "
        "CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    ours = results["fanout"]["huddle"][count]
    rows = {target: by_n[count] for target, by_n in results["fanout"].items() if count in by_n}
    if count == top_of(results):
        rows |= results.get("fanout_floor", {})
    for target, runs in rows.items():
        complete = all(r["complete"] for r in runs)
        mine = target == "huddle"
        lines.append(
            f"| {NAMES[target]}{'' if complete else ' (incomplete run)'} | "
            f"{med(runs, 'delivered_per_s'):,.0f}{spread(runs, 'delivered_per_s')} | "
            f"{med(runs, CPU):.2f}{spread(runs, CPU)} | {med(runs, 'p50_ms'):g} | {med(runs, 'p99_ms'):g} | "
            f"{'' if mine else ratio(med(ours, 'delivered_per_s'), med(runs, 'delivered_per_s'))} | "
            f"{'' if mine else ratio(med(ours, CPU), med(runs, CPU))} |"
        )
    return lines


def top_of(results: dict[str, Any]) -> str:
    return str(results["latency_half_rate"]["connections"])


def targets_met(results: dict[str, Any]) -> list[str]:
    """Issues 21's, 23's and 27's targets, checked against this run (1,000 sockets, medians)."""
    top = top_of(results)
    fan = {target: by_n[top] for target, by_n in results["fanout"].items()}
    rate = {target: med(runs, "delivered_per_s") for target, runs in fan.items()}
    cpu = {target: med(runs, CPU) for target, runs in fan.items()}
    half = results["latency_half_rate"]["runs"]["huddle"]
    floor = results["latency_half_rate"].get("floor", {}).get("relay_coalescing")
    half_floor = f"; the coalescing relay at that rate: {med(floor, 'p99_ms'):g} ms" if floor else ""
    checks = [
        ("huddle.v2 ≥ 2.0x the FastAPI peer (deliveries/s)", rate["huddle"] / rate["fastapi"], 2.0, "x"),
        ("huddle.v2 ≥ 1.2x the Socket.IO peer (deliveries/s)", rate["huddle"] / rate["socketio"], 1.2, "x"),
        ("huddle.v2 server CPU per delivery ≤ 0.8x Socket.IO's", cpu["huddle"] / cpu["socketio"], -0.8, "x"),
        (
            f"p99 ≤ 50 ms at half of Huddle's maximum rate (huddle.v2{half_floor})",
            med(half, "p99_ms"),
            -50,
            " ms",
        ),
        (
            "the seed path ≥ 1.0x the FastAPI peer (deliveries/s)",
            rate["huddle_seed"] / rate["fastapi"],
            1.0,
            "x",
        ),
    ]
    if "huddle_sse" in rate:  # issue 23
        sse = (
            "fan-out over SSE ≥ 1.0x the WebSocket path (deliveries/s)",
            rate["huddle_sse"] / rate["huddle"],
        )
        checks.append((*sse, 1.0, "x"))
    idle = results.get("idle", {})
    for count, stream in idle.get("huddle_sse", {}).items():
        kib = stream["per_socket_kib"]
        checks.append(
            (f"an idle SSE stream ≤ 16 KB of server memory ({count} streams)", kib * 1.024, -16, " KB")
        )
        if socket := idle["huddle"].get(count):
            checks.append(
                (
                    f"an idle SSE stream ≤ 0.1x a WebSocket ({count})",
                    kib / socket["per_socket_kib"],
                    -0.1,
                    "x",
                )
            )
    offload = results.get("offload")
    if offload:  # issue 27
        runs = offload["runs"]
        checks.append(
            (
                "range streaming offloaded to nginx ≥ 0.9x nginx alone, every request authorized (MiB/s)",
                med(runs["offload"], "MiB_per_s") / med(runs["nginx"], "MiB_per_s"),
                0.9,
                "x",
            )
        )
    if "range" in results and "fastapi" in results["range"]:
        ranges = results["range"]
        checks.append(
            (
                "range streaming, Granian direct ≥ 1.8x the FastAPI peer (MiB/s)",
                med(ranges["huddle"], "MiB_per_s") / med(ranges["fastapi"], "MiB_per_s"),
                1.8,
                "x",
            )
        )
    lines = ["| target (issues 21, 23, 27) | this run | |", "|---|---:|---|"]
    for name, value, bound, unit in checks:
        met = value >= bound if bound > 0 else value <= -bound
        lines.append(f"| {name} | {value:.2f}{unit} | {'met' if met else 'missed'} |")
    return lines


def tables(results: dict[str, Any]) -> str:
    p = results["parameters"]
    m = results["machine"]
    top = top_of(results)
    lines = [
        BEGIN,
        "",
        f"Generated by `make bench` (`python -m loadtests.bench --repeat {p['repeat']}`), run "
        f"{results['started']} – {results['finished']} UTC on {m['cpus']} cores shared with other work: "
        f"load average {m['loadavg_start']} at the start, {m['loadavg_end']} at the end (1, 5, 15 min). "
        f"Every figure is the median of {p['repeat']} run(s) (range in brackets); the load clients "
        "run on the same machine. Server CPU is the servers' processes' CPU over the send phase only "
        "(`../shared/bench/serverload.py`), per delivered message: it does not count the load client.",
        "",
        *targets_met(results),
    ]
    wide = sorted(int(n) for n in results["fanout"]["huddle"] if int(n) > int(top))
    for count in [top, *map(str, wide)]:
        lines += fanout_table(results, count)
    half = results["latency_half_rate"]
    lines += [
        "",
        f"### Latency at half of Huddle's maximum rate: {half['rate_per_sender']} msg/s per sender "
        f"({half['rate_per_sender'] * p['senders']} msg/s, open loop), {half['connections']} sockets",
        "",
        "| target | deliveries/s | server CPU µs/delivery | p50 ms | p99 ms | complete |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for target, runs in (half["runs"] | half.get("floor", {})).items():
        lines.append(
            f"| {NAMES[target]} | {med(runs, 'delivered_per_s'):,.0f} | {med(runs, CPU):.2f}{spread(runs, CPU)} | "
            f"{med(runs, 'p50_ms'):g}{spread(runs, 'p50_ms')} | {med(runs, 'p99_ms'):g}{spread(runs, 'p99_ms')} | "
            f"{sum(r['complete'] for r in runs)}/{len(runs)} |"
        )
    lines += [
        "",
        "![deliveries/s against connections](bench/fanout_throughput.png)",
        "",
        "![latency percentiles](bench/fanout_latency.png)",
        "",
        "### Sweep: deliveries/s by connection count (median)",
        "",
        "| connections | " + " | ".join(SHORT[t] for t in results["fanout"]) + " |",
        "|---:|" + "---:|" * len(results["fanout"]),
    ]
    for n in sorted(int(k) for k in results["fanout"]["huddle"]):
        cells = [f"{med(results['fanout'][t][str(n)], 'delivered_per_s'):,.0f}" for t in results["fanout"]]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")

    ranges = results["range"]
    ours = med(ranges["huddle"], "MiB_per_s")
    lines += [
        "",
        f"### Range streaming: {p['range']}, 2 workers, local disk",
        "",
        "| target | MiB/s | requests/s | p50 ms | p99 ms | errors | Huddle ÷ target |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for target, runs in ranges.items():
        rate = med(runs, "MiB_per_s")
        lines.append(
            f"| {'Huddle' if target == 'huddle' else NAMES[target]} | {rate:,.1f}{spread(runs, 'MiB_per_s')} | {med(runs, 'req_per_s'):,.0f} | "
            f"{med(runs, 'p50_ms'):g} | {med(runs, 'p99_ms'):g} | {sum(r['errors'] for r in runs)} | "
            f"{'' if target == 'huddle' else ratio(ours, rate)} |"
        )
    memory = results.get("range_memory_kib")
    if memory:
        before, after, streams = memory["before"], memory["after"], memory["streams"]
        per_stream = (after["hwm"] - before["rss"]) / streams
        lines += [
            "",
            f"Huddle is measured through its real endpoint: `GET /api/v1/videos/{{id}}/stream` with a signed "
            f"URL, so every request verifies the signature and the link's user's membership (asked of "
            f"PostgreSQL, and remembered by each worker for 5 s until any access change clears it); the "
            f"peers serve the file with no authorization. Huddle's workers' memory (both): "
            f"{before['rss'] / 1024:.0f} MiB before the runs, peak {after['hwm'] / 1024:.0f} MiB during "
            f"them: at most {per_stream:.0f} KiB per concurrent stream ({RANGE_NOTE}).",
        ]

    lines += offload_lines(results)
    lines += [
        "",
        "### Idle-socket memory (RSS of the 2 workers, growth per socket)",
        "",
        "| connections | Huddle KiB/socket | bare Granian KiB/socket | Huddle's overhead over the floor |"
        " Huddle ready in s | Huddle KiB/SSE stream | bare Granian KiB/SSE stream |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count, ours_idle in results["idle"]["huddle"].items():
        bare = results["idle"]["bare"].get(count)
        if bare is None:
            continue
        over = (
            ours_idle["per_socket_kib"] / bare["per_socket_kib"] - 1
            if bare["per_socket_kib"]
            else float("nan")
        )
        stream = results["idle"].get("huddle_sse", {}).get(count)
        bare_stream = results["idle"].get("bare_sse", {}).get(count)
        lines.append(
            f"| {count} | {ours_idle['per_socket_kib']:.1f} | {bare['per_socket_kib']:.1f} | {over:+.0%} | "
            f"{ours_idle['ready_seconds']:.1f} | {stream['per_socket_kib'] if stream else '':} | "
            f"{bare_stream['per_socket_kib'] if bare_stream else '':} |"
        )

    one, two = results["scaling"]["1"], results["scaling"]["2"]
    lines += [
        "",
        f"### Scaling and the embedded mode ({top} sockets, same driver and parameters)",
        "",
        "| Huddle | deliveries/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        f"| 1 worker, PostgreSQL + Redis | {med(one, 'delivered_per_s'):,.0f}{spread(one, 'delivered_per_s')} | "
        f"{med(one, 'p50_ms'):g} | {med(one, 'p99_ms'):g} |",
        f"| 2 workers, PostgreSQL + Redis | {med(two, 'delivered_per_s'):,.0f}{spread(two, 'delivered_per_s')} | "
        f"{med(two, 'p50_ms'):g} | {med(two, 'p99_ms'):g} |",
    ]
    embedded = results.get("embedded")
    if embedded:
        lines.append(
            f"| embedded: 1 worker, SQLite, in-process broker | {med(embedded, 'delivered_per_s'):,.0f}"
            f"{spread(embedded, 'delivered_per_s')} | {med(embedded, 'p50_ms'):g} | {med(embedded, 'p99_ms'):g} |"
        )
    lines += [
        "",
        f"Scaling 1 → 2 workers: {ratio(med(two, 'delivered_per_s'), med(one, 'delivered_per_s'))}.",
        *redis_table(results, top),
        *mongodb_table(results, top),
        "",
        "Raw numbers of every run: [docs/bench/results.json](bench/results.json).",
        "",
        END,
    ]
    return "\n".join(lines)


def redis_table(results: dict[str, Any], top: str) -> list[str]:
    """One Redis against a 3+3 Redis Cluster (sharded pub/sub), 2 workers: the capacity model's inputs
    (docs/deployment.md, *Capacity*)."""
    phase = results.get("redis")
    if not phase:
        return []
    lines = [
        "",
        f"### One Redis and a Redis Cluster ({top} sockets, 2 workers, same driver and parameters)",
        "",
        "Redis CPU counts every redis-server of the variant over the whole driver run (connects included):",
        "an upper bound. One Redis is the machine's shared server, which other work may use too.",
        "",
        "| Redis | deliveries/s | workers' CPU µs/delivery | Redis CPU ms per 1k deliveries | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    names = {"single": "one Redis (PUBLISH/SUBSCRIBE)", "cluster": "3+3 Redis Cluster (SPUBLISH/SSUBSCRIBE)"}
    for key, label in names.items():
        runs = phase.get(key)
        if runs:
            lines.append(
                f"| {label} | {med(runs, 'delivered_per_s'):,.0f}{spread(runs, 'delivered_per_s')} | "
                f"{med(runs, CPU):g} | {med(runs, 'redis_cpu_ms_per_1k_deliveries'):g} | {med(runs, 'p99_ms'):g} |"
            )
    return lines


def mongodb_table(results: dict[str, Any], top: str) -> list[str]:
    """What the MongoDB message store costs beside PostgreSQL's, through Huddle and alone."""
    phase = results.get("mongodb")
    if not phase:
        return []
    # PostgreSQL beside it: the one-Redis runs just before (same setup, minutes apart), else the headline.
    two = (results.get("redis") or {}).get("single") or results["scaling"]["2"]
    runs = phase["fanout"]
    lines = [
        "",
        f"### The MongoDB message store ({top} sockets, 2 workers, same driver and parameters)",
        "",
        "On SecantusDB, the MongoDB-protocol test server (no mongod can be installed on this machine): the",
        "numbers price Huddle's adapter on that server, not MongoDB's own speed.",
        "",
        "| message store | deliveries/s | workers' CPU µs/delivery | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
        f"| PostgreSQL | {med(two, 'delivered_per_s'):,.0f}{spread(two, 'delivered_per_s')} | {med(two, CPU):g} | "
        f"{med(two, 'p50_ms'):g} | {med(two, 'p99_ms'):g} |",
        f"| MongoDB store on SecantusDB | {med(runs, 'delivered_per_s'):,.0f}{spread(runs, 'delivered_per_s')} | "
        f"{med(runs, CPU):g} | {med(runs, 'p50_ms'):g} | {med(runs, 'p99_ms'):g} |",
    ]
    store = phase.get("store") or {}
    if store:
        names = list(next(iter(store.values())))
        lines += [
            "",
            "The stores alone, through the message-store port (`python -m loadtests.store_append`):",
            "",
            "| store | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        lines += [
            f"| {label} | " + " | ".join(f"{numbers[name]:,.0f}" for name in names) + " |"
            for label, numbers in store.items()
        ]
    return lines


RANGE_NOTE = "a stream reads its range in bounded chunks; wrk keeps one request per connection in flight"


def write_report(results: dict[str, Any], docs: Path) -> None:
    plots(results, docs / "bench")
    page = docs / "benchmarks.md"
    generated = tables(results)
    text = page.read_text() if page.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + generated + tail
    else:
        text += "\n" + generated + "\n"
    page.write_text(text)


if __name__ == "__main__":
    write_report(json.loads((ROOT / "docs" / "bench" / "results.json").read_text()), ROOT / "docs")
