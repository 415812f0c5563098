"""Security review (issue 22), item 5: twenty 7000 x 7000 PNGs (160 KB each, 147 MB each decoded)
completed at once must not cost gigabytes. The work runs in a process of its own
(`image_memory_probe.py`) so its peak RSS is its own; the database plays no part in it (SQLite).

Measured on the review machine: about +7.7 GB before (every image decoded at once, with three
full-size copies each), about +0.75 GB after (two images at a time, decoded once, shrunk in place).
The bound leaves twice that room for allocator differences.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
UPLOADS = 20
SIDE = 7000
BOUND_MIB = 1536


def test_parallel_large_images_stay_within_a_memory_bound(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.media.image_memory_probe",
            str(tmp_path),
            str(UPLOADS),
            str(SIDE),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["statuses"] == [201] * UPLOADS
    assert measured["growth_mib"] < BOUND_MIB, measured
