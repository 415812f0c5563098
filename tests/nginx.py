"""nginx from the repository's configuration (deploy/nginx/huddle.conf) as a child process, on a free
port, its upstream pointed at local servers and its `/_protected/` location at a local media folder.

The e2e replica test, the offload range tests and `make bench` all start the shipped configuration
this way, so what they measure is what compose runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.process import free_port
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[1]
NGINX_CONF = ROOT / "deploy" / "nginx" / "huddle.conf"
UPSTREAM = "server app:8000 max_fails=3 fail_timeout=10s;"
MEDIA_ALIAS = "alias /srv/huddle/media/;"


class Balancer:
    """nginx with deploy/nginx/huddle.conf, its upstream pointed at local servers."""

    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def pids(self) -> list[int]:
        """The master and its workers (for CPU and memory figures)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [self.process.pid, *map(int, children.read_text().split())]
        except OSError:
            return [self.process.pid]


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@contextlib.contextmanager
def run_nginx(
    workdir: Path,
    upstream_ports: list[int],
    *,
    media_dir: Path | None = None,
    workers: int = 1,
    port: int | None = None,
    health: str = "/health",
) -> Iterator[Balancer]:
    """Run the shipped configuration in `workdir` until the block ends; `health` must answer 200
    through it before this yields (pass "" to skip)."""
    binary = nginx_binary()
    if binary is None:
        unavailable("nginx is not installed (apt-get install nginx-light)")
    config = NGINX_CONF.read_text()
    assert UPSTREAM in config, "the balancer's upstream line changed: update tests/nginx.py"
    assert MEDIA_ALIAS in config, "the offload location's alias changed: update tests/nginx.py"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)  # nginx opens its default log before reading ours
    port = port or free_port()
    servers = "\n    ".join(f"server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;" for p in upstream_ports)
    config = config.replace(UPSTREAM, servers).replace("listen 80;", f"listen 127.0.0.1:{port};")
    if media_dir is not None:
        config = config.replace(MEDIA_ALIAS, f"alias {media_dir.absolute()}/;")
    (workdir / "huddle.conf").write_text(config)
    temp = " ".join(
        f"{kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read and write the temp folder
    (workdir / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes {workers};\npid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'nginx-error.log'};\nevents {{ worker_connections 4096; }}\n"
        f"http {{ access_log off; {temp} include {workdir / 'huddle.conf'}; }}\n"
    )
    process = subprocess.Popen(
        [binary, "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    running = Balancer(port, process)
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(httpx.TransportError):
                response = httpx.get(f"{running.url}{health}", timeout=1)
                if not health or response.status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                log = workdir / "nginx-error.log"
                raise RuntimeError(f"nginx did not start: {log.read_text() if log.exists() else ''}")
            time.sleep(0.1)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
