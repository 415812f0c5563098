"""The multiprocess metrics directory: made per run, emptied when given, dead workers' gauges dropped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.observability.multiproc import ENV, dead_worker_pids, multiprocess_dir


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_fresh_directory_per_run_removed_afterwards() -> None:
    env: dict[str, str] = {}
    with multiprocess_dir(env) as path:
        assert env[ENV] == str(path)
        assert path.is_dir()
    assert not path.exists()
    assert ENV not in env


def test_a_given_directory_is_emptied_and_kept(tmp_path: Path) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    env = {ENV: str(tmp_path)}
    with multiprocess_dir(env) as path:
        assert path == tmp_path
        assert list(path.iterdir()) == []
    assert tmp_path.is_dir()


def test_dead_workers_live_gauges_are_found(tmp_path: Path) -> None:
    dead = _dead_pid()
    for name in (f"gauge_livesum_{dead}.db", f"gauge_livesum_{os.getpid()}.db", f"counter_{dead}.db"):
        (tmp_path / name).write_bytes(b"")
    assert dead_worker_pids(tmp_path) == {dead}
