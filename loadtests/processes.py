"""Starting and stopping the processes the load drivers measure: Huddle, or any ASGI app on Granian.

Each server runs in its own session with its output in a log file, on 127.0.0.1 only, and is stopped by
its pid (SIGTERM, then SIGKILL of its process group after 40 s): nothing else on the machine is touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HOST = "127.0.0.1"
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
HUDDLE_ENV = {
    "SECRET_KEY": "huddle-bench-secret-key-0123456789abcdef",
    "BCRYPT_ROUNDS": "4",
    "LOGIN_RATE_LIMIT": "100000",
    "SEARCH_RATE_LIMIT": "100000",
    "DIRECT_CHAT_RATE_LIMIT": "100000",
    "MEMBER_ADD_RATE_LIMIT": "100000",
    "WS_FRAMES_PER_SECOND": "10000",
    "WS_SOCKETS_PER_USER": "100000",  # the drivers open up to 50 sockets per seeded user
    "GROUP_MEMBER_LIMIT": "100000",
    "ACCESS_TOKEN_EXPIRE_MINUTES": "600",
    "LOG_LEVEL": "WARNING",
    "ENVIRONMENT": "development",
}


def log(text: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None, check: bool = True) -> str:
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def wait_port(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.3)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout} s")


def wait_http(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{url} not healthy after {timeout} s")


class Server:
    """A server process (Granian main process) started in its own session, stopped by its pid."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int, logs: Path) -> None:
        self.name, self.port = name, port
        self.log = (logs / f"{name}.log").open("w")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def workers(self) -> list[int]:
        out = run(["pgrep", "-P", str(self.proc.pid)], timeout=10, check=False)
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


@contextlib.contextmanager
def serving(
    name: str, cmd: list[str], env: dict[str, str], port: int, logs: Path, health: str = "/health"
) -> Iterator[Server]:
    server = Server(name, cmd, env, port, logs)
    try:
        wait_http(f"http://{HOST}:{port}{health}")
        yield server
    finally:
        server.stop()


def huddle(
    name: str,
    workers: int,
    database_url: str,
    *,
    redis: bool,
    port: int,
    run_dir: Path,
    env: dict[str, str] | None = None,
) -> contextlib.AbstractContextManager[Server]:
    """Huddle (`python -m app run`) with load-friendly limits, its state under `run_dir`; `env` last."""
    settings = {
        **HUDDLE_ENV,
        "DATABASE_URL": database_url,
        "WORKERS": str(workers),
        "PORT": str(port),
        "HOST": HOST,
        "VAR_DIR": str(run_dir / f"var-{name}"),
        "REDIS_KEY_PREFIX": f"huddle-load:{uuid.uuid4().hex[:8]}:",
        "REDIS_URL": REDIS_URL if redis else "",
        **(env or {}),
    }
    return serving(name, [PY, "-m", "app", "run"], settings, port, run_dir)


def memory_kib(pids: list[int]) -> dict[str, int]:
    """Resident memory now (`rss`) and at its peak (`hwm`), summed over the processes."""
    total = {"rss": 0, "hwm": 0}
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                field, _, value = line.partition(":")
                if field in ("VmRSS", "VmHWM"):
                    total["rss" if field == "VmRSS" else "hwm"] += int(value.split()[0])
    return total
