"""`make bench`: Huddle against the peer baselines in ../shared/bench, side by side in one run.

Starts everything it measures on 127.0.0.1 (Huddle on PostgreSQL + Redis with 2 workers, then 1 worker,
then 2 workers on one Redis and on a local 3+3 Redis Cluster with Redis's CPU counted, then the
embedded mode; the peers via ../shared/bench/peers.sh; bare Granian apps for the fan-out and
idle-memory floors), seeds users and groups through the seed-000 contract
(../shared/bench/setup_group.py), runs the fan-out driver (fanout.js) and the range driver (wrk +
range.lua) with the same parameters for every target, stops everything, and writes
docs/bench/results.json, docs/bench/*.png and the generated part of docs/benchmarks.md. Every load
is bounded: fanout.js by a message count and its own 120 s cap, wrk by `-d`, the idle-socket client
by a hold time; every process here has a timeout.

    python -m loadtests.bench [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from loadtests.processes import (
    HOST,
    HUDDLE_ENV,
    PG_ADMIN,
    PY,
    REDIS_URL,
    ROOT,
    Server,
    huddle,
    log,
    memory_kib,
    run,
    serving,
    wait_port,
)
from loadtests.seeding import fake_video, upload_video

SHARED = ROOT.parent / "shared" / "bench"
GRANIAN = str(Path(PY).with_name("granian"))
RUN = Path(os.environ.get("BENCH_RUN", "/tmp/huddle-bench"))
DOCS = ROOT / "docs"
OUT = DOCS / "bench"

PORTS = {
    "huddle": 8100,
    "fastapi": 8101,
    "socketio": 8102,
    "nginx": 8103,
    "balancer": 8104,
    "bare": 8105,
    "bare_nginx": 8106,
}
USERS = 100  # registered users per group; connections take their tokens round-robin
SENDERS, WINDOW = 2, 16
VIDEO_BYTES = 100 * 1024 * 1024
RANGE_SECONDS, RANGE_CONNECTIONS = 10, 64


def bench_huddle(
    name: str, workers: int, database_url: str, *, redis: bool, env: dict[str, str] | None = None
) -> contextlib.AbstractContextManager[Server]:
    return huddle(name, workers, database_url, redis=redis, port=PORTS["huddle"], run_dir=RUN, env=env)


def granian_app(name: str, target: str, port: int, workers: int, env: dict[str, str]) -> Any:
    cmd = [GRANIAN, "--interface", "asgi", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    cmd += [
        "--ws",
        "--backlog",
        "4096",
        "--backpressure",
        "20000",
        "--log-level",
        "warning",
        "--working-dir",
        str(ROOT),
        target,
    ]
    return serving(name, cmd, env, port, RUN)


# -- drivers -------------------------------------------------------------------------------------

# What each fan-out target is: the driver's mode, and the command-line pattern of the server processes
# whose CPU serverload.py counts over the send phase.
HUDDLE_PROCESSES = f"{PY} -m app run"  # this checkout's interpreter: not another checkout's servers
TARGETS = {
    "huddle": ("huddle", HUDDLE_PROCESSES),  # /ws, huddle.v2: the headline
    "huddle_seed": ("raw", HUDDLE_PROCESSES),  # the seed's /ws/group/{id}?token=
    "huddle_sse": ("sse", HUDDLE_PROCESSES),  # GET /api/v1/events, senders over HTTP (our own driver)
    "fastapi": ("raw", "uvicorn app:app"),
    "socketio": ("sio", "node server.js"),
}
RELAY_PROCESSES = "loadtests.bare_fanout:app"
IDLE_WS_PATH = "/ws/group/{group}?token={token}&events=all"


def setup_group(base: str, out: Path, users: int = USERS, ws_path: str | None = None) -> dict[str, Any]:
    path_args = ["--ws-path", ws_path] if ws_path else []
    run([PY, str(SHARED / "setup_group.py"), base, str(users), str(out), *path_args], timeout=900)
    return json.loads(out.read_text())


def fanout(
    setup: Path, mode: str, processes: str, connections: int, messages: int, window: str = str(WINDOW)
) -> dict[str, Any]:
    """One run of the shared driver under serverload.py: deliveries/s, latency and the servers' CPU
    per delivery over the send phase."""
    if mode == "sse":  # the shared driver has no SSE mode: ours counts the same way (loadtests/sse_fanout.js)
        driver = [
            "node",
            str(ROOT / "loadtests" / "sse_fanout.js"),
            str(setup),
            str(connections),
            str(messages),
        ]
    else:
        driver = ["node", str(SHARED / "fanout.js"), str(setup), mode, str(connections), str(messages)]
    out = run(
        [PY, str(SHARED / "serverload.py"), processes, "--", *driver, str(SENDERS), window],
        timeout=300,
    )
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    log(
        f"  fanout {setup.stem} n={connections} w={window}: {result['delivered_per_s']}/s "
        f"p50={result['p50_ms']} p99={result['p99_ms']} cpu={result.get('server_cpu_us_per_delivery')} us "
        f"complete={result['complete']}"
    )
    return result


def fresh_fanouts(name: str, repeat: int, connections: int, messages: int) -> list[dict[str, Any]]:
    """`repeat` huddle.v2 fan-out runs against the Huddle being served, each in a freshly seeded group."""
    runs = []
    for index in range(repeat):
        path = RUN / f"{name}-{index}.json"
        setup_group(f"http://{HOST}:{PORTS['huddle']}", path, ws_path="/ws")
        runs.append(fanout(path, "huddle", HUDDLE_PROCESSES, connections, messages))
    return runs


def redis_pids(ports: list[int]) -> list[int]:
    """The redis-server processes listening on these loopback ports (from their own INFO)."""
    pids = []
    for port in ports:
        info = run(["redis-cli", "-h", HOST, "-p", str(port), "info", "server"], timeout=10)
        pids += [int(line.split(":")[1]) for line in info.splitlines() if line.startswith("process_id:")]
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of the processes (every thread) so far, from /proc."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def redis_fanouts(
    name: str, repeat: int, connections: int, messages: int, pids: list[int]
) -> list[dict[str, Any]]:
    """`fresh_fanouts`, adding the CPU Redis spent over each driver run (connects included, so an
    upper bound for the send phase) per 1,000 deliveries."""
    runs = []
    for index in range(repeat):
        path = RUN / f"{name}-{index}.json"
        setup_group(f"http://{HOST}:{PORTS['huddle']}", path, ws_path="/ws")
        before = cpu_seconds(pids)
        result = fanout(path, "huddle", HUDDLE_PROCESSES, connections, messages)
        used = cpu_seconds(pids) - before
        result["redis_cpu_s"] = round(used, 2)
        result["redis_cpu_ms_per_1k_deliveries"] = round(used * 1e6 / max(1, result["delivered"]), 3)
        runs.append(result)
    return runs


def redis_phase(database_url: str, repeat: int, connections: int, messages: int) -> dict[str, Any]:
    """Huddle with 2 workers on one Redis, then on a local 3+3 Redis Cluster (REDIS_CLUSTER=1, sharded
    pub/sub): deliveries/s, the workers' CPU per delivery and Redis's CPU per 1,000 deliveries."""
    from tests.redis_cluster import local_cluster  # noqa: PLC0415 -- the tests' cluster, only here

    phase: dict[str, Any] = {}
    single_port = int(REDIS_URL.rsplit(":", 1)[1].split("/", 1)[0])
    with bench_huddle("huddle-redis", 2, database_url, redis=True):
        phase["single"] = redis_fanouts(
            "huddle-redis", repeat, connections, messages, redis_pids([single_port])
        )
    folder = RUN / "redis-cluster"
    shutil.rmtree(folder, ignore_errors=True)
    with local_cluster(folder) as cluster:
        env = {"REDIS_URL": cluster.url, "REDIS_CLUSTER": "1"}
        with huddle(
            "huddle-redis-cluster", 2, database_url, redis=True, port=PORTS["huddle"], run_dir=RUN, env=env
        ):
            phase["cluster"] = redis_fanouts(
                "huddle-redis-cluster", repeat, connections, messages, redis_pids(cluster.ports)
            )
    return phase


def mongodb_phase(database_url: str, repeat: int, connections: int, messages: int) -> dict[str, Any]:
    """The MongoDB message store (MONGODB_URL) beside PostgreSQL's: Huddle's fan-out with 2 workers on
    it, and the stores alone (loadtests/store_append.py). The server is SecantusDB, the test server
    (no mongod can be installed here): its numbers price the adapter on it, not MongoDB."""
    from loadtests import store_append  # noqa: PLC0415 -- the tests' SecantusDB starter, only here
    from tests.secantus import Secantus  # noqa: PLC0415

    phase: dict[str, Any] = {}
    server = Secantus(RUN / "secantus")
    server.start()
    try:
        env = {"MONGODB_URL": server.url, "DATABASE_NAME": f"bench_{uuid.uuid4().hex[:6]}"}
        with huddle(
            "huddle-mongodb", 2, database_url, redis=True, port=PORTS["huddle"], run_dir=RUN, env=env
        ):
            phase["fanout"] = fresh_fanouts("huddle-mongodb", repeat, connections, messages)
    finally:
        server.stop()
    phase["store"] = store_append.compare()
    return phase


def wrk(url: str, *, size: int) -> dict[str, Any]:
    out = run(
        ["wrk", "-t2", f"-c{RANGE_CONNECTIONS}", f"-d{RANGE_SECONDS}s", "-s", str(SHARED / "range.lua"), url],
        timeout=RANGE_SECONDS + 60,
        env={"FILE_SIZE": str(size)},
    )
    line = next(x for x in out.splitlines() if x.startswith("{"))
    result: dict[str, Any] = json.loads(line)
    log(f"  wrk {url}: {result['MiB_per_s']} MiB/s p99={result['p99_ms']} errors={result['errors']}")
    return result


def measured_wrk(url: str, pids: list[int], *, size: int) -> dict[str, Any]:
    """wrk against `url`, with the CPU and resident memory of the serving processes (`pids`) over the
    run: CPU as cores busy (and per stream: per wrk connection), memory before and at its peak."""
    before, started = memory_kib(pids), time.monotonic()
    cpu = cpu_seconds(pids)
    result = wrk(url, size=size)
    busy = (cpu_seconds(pids) - cpu) / (time.monotonic() - started)
    after = memory_kib(pids)
    result |= {
        "cpu_cores": round(busy, 3),
        "cpu_percent_per_stream": round(busy * 100 / RANGE_CONNECTIONS, 3),
        "rss_kib_before": before["rss"],
        "rss_kib_peak": after["hwm"],
        "kib_per_stream": round(max(0, after["hwm"] - before["rss"]) / RANGE_CONNECTIONS, 1),
        "processes": len(pids),
    }
    log(
        f"    cpu {result['cpu_cores']} cores, peak rss {after['hwm'] // 1024} MiB over {len(pids)} processes"
    )
    return result


@contextlib.contextmanager
def bare_nginx(videos: Path) -> Any:
    """The peers' nginx (../shared/bench/nginx.conf: sendfile, 2 workers, no authorization) on its
    own port, in the foreground, stopped by its pid: for the offload phase run alone."""
    folder = RUN / "bare-nginx"
    folder.mkdir(parents=True, exist_ok=True)
    config = (SHARED / "nginx.conf").read_text().replace("VIDEO_DIR", str(videos))
    config = config.replace("RUN_DIR", str(folder)).replace("daemon on;", "daemon off;")
    config = config.replace(f"127.0.0.1:{PORTS['nginx']}", f"127.0.0.1:{PORTS['bare_nginx']}")
    (folder / "nginx.conf").write_text(config)
    server = Server("bare-nginx", ["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf")], {}, 0, RUN)
    try:
        wait_port(PORTS["bare_nginx"], 30)
        yield server
    finally:
        server.stop()


def nginx_pids(server: Any) -> list[int]:
    return [server.proc.pid, *server.workers()]


def offload_phase(database_url: str, videos: Path, repeat: int) -> dict[str, Any]:
    """Range streaming with STREAM_OFFLOAD=nginx through the repository's balancer
    (deploy/nginx/huddle.conf), the same balancer proxying Huddle's own streaming, Huddle alone, and
    nginx alone (the peers' configuration). Huddle: 2 workers, PostgreSQL + Redis, a signed URL (every
    request authorized); the balancer: 2 nginx workers, as the bare one."""
    from tests.nginx import run_nginx  # noqa: PLC0415 -- the tests' launcher of the shipped config

    media = RUN / "offload-media"
    runs: dict[str, list[dict[str, Any]]] = {
        "offload": [],
        "floor": [],
        "balancer": [],
        "huddle": [],
        "nginx": [],
    }
    common = {"MEDIA_DIR": str(media), "TRANSCODE_CONCURRENCY": "0"}
    stream = accel = ""
    for mode in ("nginx", "off"):
        env = {**common, "STREAM_OFFLOAD": mode}
        with bench_huddle(f"huddle-offload-{mode}", 2, database_url, redis=True, env=env) as server:
            base = f"http://{HOST}:{PORTS['huddle']}"
            stream = stream or upload_video(base, videos / "bench.mp4")
            with run_nginx(
                RUN / f"balancer-{mode}",
                [PORTS["huddle"]],
                media_dir=media,
                workers=2,
                port=PORTS["balancer"],
            ) as balancer:
                pids = server.workers() + balancer.pids()
                target = "offload" if mode == "nginx" else "balancer"
                for _ in range(repeat):
                    runs[target].append(measured_wrk(balancer.url + stream, pids, size=VIDEO_BYTES))
            if mode == "off":
                for _ in range(repeat):
                    runs["huddle"].append(measured_wrk(base + stream, server.workers(), size=VIDEO_BYTES))
            else:
                accel = httpx.get(base + stream, timeout=30).raise_for_status().headers["x-accel-redirect"]
    # The floor: the same balancer before a Granian app that answers every request as Huddle does here
    # (loadtests/bare_authorizer.py) and checks nothing.
    with (
        granian_app(
            "bare-authorizer", "loadtests.bare_authorizer:app", PORTS["bare"], 2, {"BARE_ACCEL": accel}
        ) as app,
        run_nginx(
            RUN / "balancer-floor", [PORTS["bare"]], media_dir=media, workers=2, port=PORTS["balancer"]
        ) as balancer,
    ):
        for _ in range(repeat):
            runs["floor"].append(
                measured_wrk(balancer.url + "/floor", app.workers() + balancer.pids(), size=VIDEO_BYTES)
            )
    with bare_nginx(videos) as nginx:
        url = f"http://{HOST}:{PORTS['bare_nginx']}/api/stream/bench.mp4"
        for _ in range(repeat):
            runs["nginx"].append(measured_wrk(url, nginx_pids(nginx), size=VIDEO_BYTES))
    offloaded, bare = median_of(runs["offload"], "MiB_per_s"), median_of(runs["nginx"], "MiB_per_s")
    floor = median_of(runs["floor"], "MiB_per_s")
    log(f"offloaded / bare nginx: {offloaded / bare:.2f}x (target >= 0.9x); the floor {floor / bare:.2f}x")
    return {"runs": runs, "offload_vs_nginx": round(offloaded / bare, 3)}


# Connections one idle client holds: a process may open at most ~20k files here (`ulimit -Hn`).
IDLE_PER_CLIENT = 7000


def idle(setup: Path, count: int, pids: list[int], ready_type: str, sse: str = "") -> dict[str, Any]:
    """RSS growth of the server processes per idle connection, `count` of them held by one client or,
    past IDLE_PER_CLIENT, by several (this process then samples the memory once all are ready)."""
    clients = -(-count // IDLE_PER_CLIENT)
    cmd = [PY, str(ROOT / "loadtests" / "idle_sockets.py"), str(setup), "--ready-type", ready_type]
    cmd += ["--sse", sse] if sse else []
    if clients == 1:
        cmd += [str(count), "--hold", "6", "--settle", "5", "--pids", ",".join(map(str, pids))]
        result: dict[str, Any] = json.loads(run(cmd, timeout=400).strip().splitlines()[-1])
    else:
        result = idle_split(cmd, count, clients, pids)
    log(f"  idle {setup.stem}{' sse' if sse else ''} {count}: {result}")
    return result


def idle_split(cmd: list[str], count: int, clients: int, pids: list[int]) -> dict[str, Any]:
    share = -(-count // clients)
    marks = [RUN / f"idle-ready-{uuid.uuid4().hex[:6]}" for _ in range(clients)]
    before = memory_kib(pids)["rss"]
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [*cmd, str(min(share, count - i * share)), "--first", str(i * share), "--hold", "600"]
            + ["--ready-file", str(mark)],
            stdout=subprocess.DEVNULL,
        )
        for i, mark in enumerate(marks)
    ]
    try:
        while not all(mark.exists() for mark in marks):
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError("an idle client ended before its connections were ready")
            if time.monotonic() - started > 600:
                raise RuntimeError(f"{count} idle connections were not ready in 600 s")
            time.sleep(0.5)
        ready = max(json.loads(mark.read_text())["ready_seconds"] for mark in marks)
        time.sleep(5)  # settle, as one client does
        after = memory_kib(pids)["rss"]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
    return {
        "sockets": count,
        "clients": clients,
        "ready_seconds": ready,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "per_socket_kib": round((after - before) / count, 2),
    }


def median_of(results: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in results if r.get(key) is not None]
    return float(statistics.median(values)) if values else float("nan")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def idle_phase(database_url: str, idle_counts: list[int]) -> dict[str, dict[str, Any]]:
    """Server memory per idle connection: Huddle's sockets and streams, and bare Granian's."""
    # Memory: a fresh server for every count, both sides, so no run reuses memory a previous one
    # freed (the allocator keeps it): the growth is what the sockets themselves cost.
    phase: dict[str, dict[str, Any]] = {"huddle": {}, "bare": {}, "huddle_sse": {}, "bare_sse": {}}
    bare_setup = RUN / "bare.json"
    bare_setup.write_text(
        json.dumps({"ws": f"ws://{HOST}:{PORTS['bare']}/ws?token={{token}}", "tokens": ["x"]})
    )
    for count in idle_counts:
        log(f"idle-socket memory at {count} sockets: Huddle, then bare Granian (2 workers each, fresh)")
        with bench_huddle(f"huddle-idle-{count}", 2, database_url, redis=True) as server:
            path = RUN / f"huddle-idle-{count}.json"
            # The seed path asking for every event: ready once subscribed, as a client holds it.
            setup_group(f"http://{HOST}:{PORTS['huddle']}", path, ws_path=IDLE_WS_PATH)
            time.sleep(2)
            phase["huddle"][str(count)] = idle(path, count, server.workers(), "subscribed")
        with bench_huddle(f"huddle-idle-sse-{count}", 2, database_url, redis=True) as server:
            path = RUN / f"huddle-idle-sse-{count}.json"
            setup_group(f"http://{HOST}:{PORTS['huddle']}", path)
            time.sleep(2)
            events = f"http://{HOST}:{PORTS['huddle']}/api/v1/events"
            phase["huddle_sse"][str(count)] = idle(path, count, server.workers(), "subscribed", events)
        with granian_app(f"bare-{count}", "loadtests.bare_ws:app", PORTS["bare"], 2, {}) as bare:
            time.sleep(2)
            phase["bare"][str(count)] = idle(bare_setup, count, bare.workers(), "")
        with granian_app(f"bare-sse-{count}", "loadtests.bare_ws:app", PORTS["bare"], 2, {}) as bare:
            time.sleep(2)
            events = f"http://{HOST}:{PORTS['bare']}/events"
            phase["bare_sse"][str(count)] = idle(bare_setup, count, bare.workers(), "subscribed", events)
    return phase


# -- the run -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each headline measurement (median)")
    parser.add_argument("--messages", type=int, default=100, help="messages per sender in a fan-out run")
    parser.add_argument("--sweep", default="100,250,500,1000", help="connection counts for the plot")
    parser.add_argument("--wide", default="5000", help="larger connection counts (one run each)")
    parser.add_argument("--idle", default="1000,5000,20000", help="idle connection counts for memory")
    parser.add_argument("--quick", action="store_true", help="one repetition, a short sweep (smoke run)")
    parser.add_argument("--no-docs", action="store_true", help="write results.json only")
    parser.add_argument(
        "--only",
        choices=["offload", "idle"],
        help="run one phase alone (no peers, no docs): its results go to docs/bench/<phase>.json",
    )
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.sweep, args.idle, args.wide = 1, "1000", "1000", ""
    sweep = [int(x) for x in args.sweep.split(",")]
    wide = [int(x) for x in args.wide.split(",") if x]
    idle_counts = [int(x) for x in args.idle.split(",")]

    for tool in ("node", "wrk", "nginx", "psql", "redis-cli"):
        if shutil.which(tool) is None:
            sys.exit(
                f"bench: `{tool}` not found (apt-get install -y nginx-light wrk; node, PostgreSQL, Redis)"
            )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = min(max([*idle_counts, *wide]), IDLE_PER_CLIENT) * 2 + 4096  # larger idle counts: several clients
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile < need:
        sys.exit(
            f"bench: open-file limit {nofile} < {need} needed for {max(idle_counts)} sockets (ulimit -n)"
        )

    shutil.rmtree(RUN, ignore_errors=True)
    RUN.mkdir(parents=True)
    videos = RUN / "videos"
    videos.mkdir()
    fake_video(videos / "bench.mp4", VIDEO_BYTES)
    database = f"huddle_bench_{uuid.uuid4().hex[:8]}"
    run(["psql", PG_ADMIN, "-qc", f'CREATE DATABASE "{database}"'], timeout=60)
    database_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + database
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": loadavg(), "nofile": nofile},
        "parameters": {
            "users_per_group": USERS,
            "senders": SENDERS,
            "window": WINDOW,
            "messages_per_sender": args.messages,
            "repeat": args.repeat,
            "range": f"wrk -t2 -c{RANGE_CONNECTIONS} -d{RANGE_SECONDS}s, random 1 MiB ranges of 100 MiB",
        },
    }
    peer_env = {"PEER_RUN": str(RUN / "peers"), "VIDEO_DIR": str(videos), "REDIS_URL": REDIS_URL}
    if args.only:
        try:
            run([PY, "-m", "app", "migrate"], timeout=300, env={**HUDDLE_ENV, "DATABASE_URL": database_url})
            if args.only == "idle":
                results["idle"] = idle_phase(database_url, idle_counts)
            else:
                log(
                    "range streaming offloaded to nginx (STREAM_OFFLOAD=nginx), the balancer alone, nginx alone"
                )
                results[args.only] = offload_phase(database_url, videos, args.repeat)
        finally:
            run(
                ["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'],
                timeout=60,
                check=False,
            )
        results["machine"]["loadavg_end"] = loadavg()
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{args.only}.json").write_text(json.dumps(results, indent=1))
        log(f"wrote {OUT / f'{args.only}.json'}")
        return
    try:
        run([PY, "-m", "app", "migrate"], timeout=300, env={**HUDDLE_ENV, "DATABASE_URL": database_url})
        log("starting the peers")
        run(["bash", str(SHARED / "peers.sh"), "start"], timeout=900, env=peer_env)
        wait_port(PORTS["fastapi"])
        fastapi_setup = RUN / "fastapi.json"
        log("seeding the peers (FastAPI setup, shared by Socket.IO)")
        setup = setup_group(f"http://{HOST}:{PORTS['fastapi']}", fastapi_setup)
        sio_setup = RUN / "socketio.json"
        sio_setup.write_text(
            json.dumps(
                {**setup, "ws": f"ws://{HOST}:{PORTS['socketio']}/socket.io/?EIO=4&transport=websocket"}
            )
        )
        peer_setups = {"fastapi": fastapi_setup, "socketio": sio_setup}

        with bench_huddle("huddle-2w", 2, database_url, redis=True):
            base = f"http://{HOST}:{PORTS['huddle']}"
            counter = iter(range(10_000))

            def setup_of(target: str) -> Path:
                """A fresh group for every Huddle run (history never leaks between runs)."""
                if target in peer_setups:
                    return peer_setups[target]
                path = RUN / f"{target}-{next(counter)}.json"
                setup_group(base, path, ws_path="/ws" if target in ("huddle", "huddle_sse") else None)
                return path

            def measure(target: str, connections: int, messages: int, window: str = str(WINDOW)) -> Any:
                mode, processes = TARGETS[target]
                return fanout(setup_of(target), mode, processes, connections, messages, window)

            log("fan-out sweep (deliveries/s against connection count), every target in turn")
            sweep_results: dict[str, dict[int, list[dict[str, Any]]]] = {t: {} for t in TARGETS}
            for connections in [*sweep, *wide]:
                reps = args.repeat if connections == max(sweep) else 1
                for _ in range(reps):
                    for target in TARGETS:
                        result = measure(target, connections, args.messages)
                        sweep_results[target].setdefault(connections, []).append(result)
            results["fanout"] = {
                target: {str(n): runs for n, runs in by_n.items()} for target, by_n in sweep_results.items()
            }
            top = max(sweep)
            huddle_max = median_of(sweep_results["huddle"][top], "delivered_per_s")
            per_sender = max(1, round(huddle_max / top / 2 / SENDERS))  # half our max, split over the senders
            half_messages = max(20, per_sender * 8)  # about 8 s of open-loop load
            log(f"latency at half of Huddle's max rate: {per_sender} msg/s per sender")
            open_loop = [t for t in TARGETS if TARGETS[t][0] != "sse"]  # the SSE driver is closed-loop only
            latency: dict[str, list[dict[str, Any]]] = {t: [] for t in open_loop}
            for _ in range(args.repeat):
                for target in open_loop:
                    latency[target].append(measure(target, top, half_messages, f"r{per_sender}"))
            results["latency_half_rate"] = {
                "rate_per_sender": per_sender,
                "connections": top,
                "runs": latency,
                "floor": {},  # the relays at the same rate, below
            }

        log(
            "fan-out floors: a bare Granian app that only relays frames through Redis, then the same coalescing"
        )
        floor_setup = RUN / "floor.json"
        floor_setup.write_text(
            json.dumps({"ws": f"ws://{HOST}:{PORTS['bare']}/ws?token={{token}}", "group": 0, "tokens": ["x"]})
        )
        results["fanout_floor"] = {}
        for floor, coalesce in (("relay", "0"), ("relay_coalescing", "1")):
            floor_env = {
                "REDIS_URL": REDIS_URL,
                "BARE_CHANNEL": f"huddle-bench-floor:{uuid.uuid4().hex[:8]}",
                "BARE_COALESCE": coalesce,
            }
            with granian_app(floor, "loadtests.bare_fanout:app", PORTS["bare"], 2, floor_env):
                results["fanout_floor"][floor] = [
                    fanout(floor_setup, "raw", RELAY_PROCESSES, top, args.messages)
                    for _ in range(args.repeat)
                ]
                # The same open-loop rate as Huddle's latency runs: the p99 a server that does nothing
                # but relay reaches here, on this machine, with the load client beside it.
                results["latency_half_rate"]["floor"][floor] = [
                    fanout(floor_setup, "raw", RELAY_PROCESSES, top, half_messages, f"r{per_sender}")
                    for _ in range(args.repeat)
                ]

        log("range streaming: Huddle's stream endpoint (signed URL), the FastAPI peer, nginx")
        ranges: dict[str, list[dict[str, Any]]] = {"huddle": [], "fastapi": [], "nginx": []}
        with bench_huddle("huddle-range", 2, database_url, redis=True) as server:
            base = f"http://{HOST}:{PORTS['huddle']}"
            urls = {
                "huddle": base + upload_video(base, videos / "bench.mp4"),
                "fastapi": f"http://{HOST}:{PORTS['fastapi']}/api/stream/bench.mp4",
                "nginx": f"http://{HOST}:{PORTS['nginx']}/api/stream/bench.mp4",
            }
            before = memory_kib(server.workers())
            for _ in range(args.repeat):
                for target, url in urls.items():
                    ranges[target].append(wrk(url, size=VIDEO_BYTES))
            after = memory_kib(server.workers())
            results["range_memory_kib"] = {"before": before, "after": after, "streams": RANGE_CONNECTIONS}
        results["range"] = ranges

        log("range streaming offloaded to nginx (STREAM_OFFLOAD=nginx), the balancer alone, nginx alone")
        results["offload"] = offload_phase(database_url, videos, args.repeat)

        results["idle"] = idle_phase(database_url, idle_counts)

        log("scaling: Huddle with 1 worker")
        with bench_huddle("huddle-1w", 1, database_url, redis=True):
            one = fresh_fanouts("huddle-1w", args.repeat, top, args.messages)
            results["scaling"] = {"1": one, "2": sweep_results["huddle"][top]}

        log("Redis per delivery: one Redis, then a local 3+3 Redis Cluster (REDIS_CLUSTER=1), 2 workers")
        results["redis"] = redis_phase(database_url, args.repeat, top, args.messages)

        log("the MongoDB message store (on SecantusDB, the test server), 2 workers; then the stores alone")
        results["mongodb"] = mongodb_phase(database_url, args.repeat, top, args.messages)

        log("embedded mode: SQLite, in-process broker, 1 worker")
        with bench_huddle("huddle-embedded", 1, f"sqlite:///{RUN / 'embedded.db'}", redis=False):
            results["embedded"] = fresh_fanouts("huddle-embedded", args.repeat, top, args.messages)
    finally:
        log("stopping the peers")
        run(["bash", str(SHARED / "peers.sh"), "stop"], timeout=60, env=peer_env, check=False)
        run(
            ["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'],
            timeout=60,
            check=False,
        )
    results["machine"]["loadavg_end"] = loadavg()
    results["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    log(f"wrote {OUT / 'results.json'}")
    if not args.no_docs:
        from loadtests.report import write_report  # noqa: PLC0415 -- matplotlib only when reporting

        write_report(results, DOCS)
        log(f"wrote {DOCS / 'benchmarks.md'} and the plots in {OUT}")


if __name__ == "__main__":
    main()
