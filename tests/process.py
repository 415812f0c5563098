"""Run the real server (`python -m app run`, Granian workers) as a child process for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

APP_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_CLUSTER",
    "REDIS_KEY_PREFIX",
    "SECRET_KEY",
    "WORKERS",
    "PORT",
    "HOST",
    "MONGODB_URL",
    "ENVIRONMENT",
    "AZURE_STORAGE_CONNECTION_STRING",
    "VAR_DIR",
    "MEDIA_DIR",
)


ROOT = Path(__file__).resolve().parents[1]


def listening(port: int) -> bool:
    """Something accepts connections on this loopback port (a helper server has started)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    command = b"-m\x00app\x00run"  # in a worker's /proc/<pid>/cmdline

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not healthy after {timeout}s:\n{self.output()}")

    def workers(self) -> list[int]:
        """The server's worker processes now (Granian forks them from its main thread)."""
        pid = self.process.pid
        try:
            return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as an orchestrator would; returns the exit code."""
        if self.process.poll() is None:
            workers = self.workers()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            # A worker still starting (a loaded machine: a server that never got healthy) may outlive
            # its server, orphaned and serving nobody: it goes too.
            for pid in workers:
                with contextlib.suppress(OSError):  # gone already
                    ours = self.command in Path(f"/proc/{pid}/cmdline").read_bytes()
                    if ours and Path(f"/proc/{pid}/cwd").readlink() == ROOT:  # not a reused pid
                        os.kill(pid, signal.SIGKILL)
        return self.process.returncode


@contextmanager
def run_server(
    tmp_path: Path, *, own_group: bool = False, start_timeout: float = 90, **env: str
) -> Iterator[Server]:
    """The server and its children (workers, ffmpeg) always run in a process group of their own: a
    worker still starting when the server is stopped (a start that timed out on a busy machine)
    would otherwise outlive it, holding its database and Redis connections; the group is killed at
    the end. `own_group` says a test signals that group itself. `start_timeout`: how long it may take
    to answer /health, a bound for a busy machine, not a timing."""
    del own_group  # every server has its group now; kept for the tests that ask for it by name
    port = int(env.pop("PORT", "0")) or free_port()
    base = {k: v for k, v in os.environ.items() if k not in APP_VARIABLES}
    log = tmp_path / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "run"],
            env=base | {"PORT": str(port), "VAR_DIR": str(tmp_path / "var")} | env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    server = Server(process, port, log)
    try:
        server.wait_healthy(start_timeout)
        yield server
    finally:
        server.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def backend_server(kind: str, tmp_path: Path, **env: str) -> Iterator[Server]:
    """The real server on the embedded default (`embedded`: one worker, SQLite, in-process broker), on
    PostgreSQL + Redis with two workers (`cluster`), or on PostgreSQL + a local Redis Cluster of its
    own (`redis-cluster`: REDIS_CLUSTER=1, sharded pub/sub), each with a database and key prefix of
    its own."""
    if kind == "embedded":
        with run_server(tmp_path, **env) as running:
            yield running
        return
    from app.db import migrate  # noqa: PLC0415 -- only the cluster needs the schema made here
    from tests.conftest import SECRET  # noqa: PLC0415
    from tests.redis_cluster import local_cluster  # noqa: PLC0415
    from tests.services import postgres_database, redis_namespace  # noqa: PLC0415

    with contextlib.ExitStack() as stack:
        database = stack.enter_context(postgres_database())
        migrate.upgrade(database)
        if kind == "redis-cluster":
            nodes = stack.enter_context(local_cluster(tmp_path / "redis-cluster"))
            redis = {"REDIS_URL": nodes.url, "REDIS_CLUSTER": "1", "REDIS_KEY_PREFIX": "huddle:"}
        else:
            redis_url, prefix = stack.enter_context(redis_namespace())
            redis = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix}
        backends = {"DATABASE_URL": database, **redis}
        running = stack.enter_context(run_server(tmp_path, **env, **backends, SECRET_KEY=SECRET, WORKERS="2"))
        yield running
