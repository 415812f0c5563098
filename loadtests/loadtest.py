"""`make loadtest`: Locust, headless, against a running Huddle, with CSV and HTML reports.

    python -m loadtests.loadtest [--host http://127.0.0.1:8000] [--users 50] [--ramp 10] [--duration 60s]

Seeds a 16 MiB video and serves it with loadtests/range_app.py (Granian, 2 workers, port 8104) for the
range users, unless RANGE_URL is set (e.g. to the app's own /api/stream/<name> once the video endpoints
are there). Reports go to var/loadtest/: `huddle_stats.csv`, `huddle_stats_history.csv`,
`huddle_failures.csv`, `report.html`. Loopback only; the duration caps the run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "loadtest"
RANGE_PORT = 8104


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default=os.environ.get("LOADTEST_HOST", "http://127.0.0.1:8000"))
    parser.add_argument("--users", default=os.environ.get("LOADTEST_USERS", "50"))
    parser.add_argument(
        "--ramp", default=os.environ.get("LOADTEST_RAMP", "10"), help="users started per second"
    )
    parser.add_argument("--duration", default=os.environ.get("LOADTEST_DURATION", "60s"))
    args = parser.parse_args()
    if urlsplit(args.host).hostname not in {"127.0.0.1", "localhost"}:
        sys.exit("loadtest: loopback hosts only")
    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    range_server = None
    if not env.get("RANGE_URL"):
        videos = OUT / "videos"
        videos.mkdir(exist_ok=True)
        video = videos / "loadtest.mp4"
        if not video.exists() or video.stat().st_size != 16 << 20:
            video.write_bytes(os.urandom(16 << 20))
        bin_dir = Path(sys.executable).parent
        range_server = subprocess.Popen(
            [
                str(bin_dir / "granian"),
                "--interface",
                "asgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(RANGE_PORT),
            ]
            + [
                "--workers",
                "2",
                "--log-level",
                "warning",
                "--working-dir",
                str(ROOT),
                "loadtests.range_app:app",
            ],
            cwd=ROOT,
            env={**env, "RANGE_DIR": str(videos)},
            start_new_session=True,
        )
        env["RANGE_URL"] = f"http://127.0.0.1:{RANGE_PORT}/api/stream/loadtest.mp4"
        time.sleep(3)
    command = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "locustfile.py"), "--headless",
        "--host", args.host, "-u", args.users, "-r", args.ramp, "-t", args.duration, "--stop-timeout", "5",
        "--csv", str(OUT / "huddle"), "--csv-full-history", "--html", str(OUT / "report.html"),
        "--only-summary",
    ]  # fmt: skip
    print("loadtest:", " ".join(command), file=sys.stderr)
    try:
        code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    finally:
        if range_server is not None:
            range_server.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                range_server.wait(timeout=20)
    print(f"loadtest: reports in {OUT}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
