"""The Prometheus multiprocess directory shared by a server's Granian workers.

`huddle run` prepares it before any worker starts (prometheus_client picks its storage when first
imported, so the variable must be in the environment by then); stdlib only, for the same reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


@contextmanager
def multiprocess_dir(env: MutableMapping[str, str]) -> Iterator[Path]:
    """Use the operator's `PROMETHEUS_MULTIPROC_DIR` (emptied: stale files would add up), else a
    fresh temporary one removed on exit."""
    given = env.get(ENV, "").strip()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="huddle-metrics-"))
    env[ENV] = str(path)
    try:
        yield path
    finally:
        env.pop(ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def dead_worker_pids(path: Path) -> set[int]:
    """Processes that left live-gauge files behind (killed workers): their open sockets are gone."""
    pids = set()
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(path):
            match = _LIVE_GAUGE.match(entry.name)
            if match and not _alive(int(match.group(1))):
                pids.add(int(match.group(1)))
    return pids
