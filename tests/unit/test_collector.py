"""A serving worker freezes the objects of the app it built, and collects less often
(app/server/collector.py). Checked in a fresh interpreter: the test process itself is left alone."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

WORKER = """
import gc, json
from app.server.asgi import app
before = gc.get_freeze_count()
app()
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold()}))
"""


def test_a_worker_freezes_its_app_and_collects_less_often(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'huddle.db'}",
        "VAR_DIR": str(tmp_path / "var"),
        "REDIS_URL": "",
        "SECRET_KEY": "collector-test-secret-key-0123456789abcdef",
    }
    result = subprocess.run(
        [sys.executable, "-c", WORKER], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    worker = json.loads(result.stdout.strip().splitlines()[-1])
    assert worker["before"] == 0
    assert worker["frozen"] > 10_000  # the app's objects: never walked by a collection again
    young, middle, full = worker["thresholds"]
    default_young, default_middle, default_full = gc.get_threshold()  # this process keeps the defaults
    assert young > default_young
    assert middle >= default_middle
    assert full >= default_full
