"""`make loadtest` against a server started the README's way (`huddle run`, nothing configured: SQLite,
in-process broker, default limits) completes without a single Locust failure: the load test makes its
accounts with `huddle users create` instead of registering them past the server's rate limits."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.process import APP_VARIABLES, run_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_loadtest_runs_clean_against_a_default_server(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:  # only PORT and VAR_DIR are set, as on a fresh machine
        env = {k: v for k, v in os.environ.items() if k not in APP_VARIABLES} | {
            "VAR_DIR": str(tmp_path / "var")
        }
        out = tmp_path / "report"
        command = [sys.executable, "-m", "loadtests.loadtest", "--host", server.url, "--users", "12"]
        done = subprocess.run(
            [*command, "--ramp", "12", "--duration", "8s", "--out", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    with (out / "huddle_failures.csv").open() as failures:
        assert list(csv.DictReader(failures)) == []
    with (out / "huddle_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    assert int(rows["send->receive"]["Request Count"]) > 0  # sockets received live messages
    assert int(rows["Aggregated"]["Failure Count"]) == 0
