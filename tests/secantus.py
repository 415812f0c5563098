"""SecantusDB (PyPI `secantusdb`, a MongoDB-wire-compatible server on WiredTiger) as a child process, so
the MongoDB message store is tested over the wire with the real pymongo driver.

It is a dev dependency in uv.lock (`make test` installs it; never shipped in the image). It has no text
indexes (and no hashed or wildcard ones, no `$where`): docs/reliability.md lists what it does not cover.
A missing or broken SecantusDB skips the MongoDB tests, or fails them under HUDDLE_REQUIRE_SERVICES=1.
`MONGODB_URL` set in the environment points the same tests at that server instead (a real mongod).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.process import free_port, listening
from tests.services import unavailable


class Secantus:
    """One SecantusDB server on a fixed port and folder: stop, freeze and start it again to test
    outages; started again on the same folder, it serves the same data."""

    def __init__(self, workdir: Path, port: int | None = None, *, durable: bool = False) -> None:
        self.port = port or free_port()
        # SecantusDB's help: --sync-on-commit closes the j:true durability gap. A test that SIGKILLs it
        # needs that, or a write acknowledged just before the kill may be lost.
        self.durable = durable
        self.data = workdir / "data"
        self.log = workdir / "secantus.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 30) -> None:
        if importlib.util.find_spec("secantus") is None:
            unavailable("SecantusDB not installed: run `uv sync` (it is in the dev dependency group)")
        self.data.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--storage-path", str(self.data), "--log-level", "WARNING"]
        command += ["--sync-on-commit"] if self.durable else []
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                command,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not listening(self.port):
            if self.process.poll() is not None:
                unavailable(f"SecantusDB exited with {self.process.returncode}: {self._tail()}")
            if time.monotonic() > deadline:
                self.stop()
                unavailable(f"SecantusDB not listening after {timeout}s: {self._tail()}")
            time.sleep(0.1)

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        # Its own process group (start_new_session): this reaches only the server this test started.
        os.killpg(self.process.pid, sig)

    def freeze(self) -> None:
        """SIGSTOP: the server holds its connections open and answers nothing (a hung host)."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: connections are refused from now on (a crashed server); the data stays on disk."""
        if self.process is None or self.process.poll() is not None:
            return
        self._signal(signal.SIGCONT)  # a frozen process must run to die
        self._signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def secantus(workdir: Path) -> Iterator[Secantus]:
    server = Secantus(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
