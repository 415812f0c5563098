"""`make loadtest`: Locust, headless, against a running Huddle, with CSV and HTML reports.

    python -m loadtests.loadtest [--host http://127.0.0.1:8000] [--users 50] [--ramp 10] [--duration 60s]

Makes the accounts first with `huddle users create` (USERS + 1 of them, `loadtest-N@loadtest.example.com`,
in the database the server uses: run this with the server's environment), so a default server's
registration and sign-in limits are never in the way. Uploads a 16 MiB video through the API (a new
group of the first account) and gives the range users its signed stream URL, unless RANGE_URL is set.
Reports go to var/loadtest/: `huddle_stats.csv`, `huddle_stats_history.csv`, `huddle_failures.csv`,
`report.html`, and the accounts to `accounts.json` (mode 600). Loopback only; the duration caps the run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from loadtests.seeding import fake_video, upload_video

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "loadtest"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default=os.environ.get("LOADTEST_HOST", "http://127.0.0.1:8000"))
    parser.add_argument("--users", default=os.environ.get("LOADTEST_USERS", "50"))
    parser.add_argument(
        "--ramp", default=os.environ.get("LOADTEST_RAMP", "10"), help="users started per second"
    )
    parser.add_argument("--duration", default=os.environ.get("LOADTEST_DURATION", "60s"))
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the CSV and HTML reports")
    args = parser.parse_args()
    out: Path = args.out
    if urlsplit(args.host).hostname not in {"127.0.0.1", "localhost"}:
        sys.exit("loadtest: loopback hosts only")
    out.mkdir(parents=True, exist_ok=True)
    accounts = out / "accounts.json"
    # The shared group is made with the accounts: added over HTTP, MEMBER_ADD_RATE_LIMIT would stop it.
    count = str(int(args.users) + 1)
    create = [sys.executable, "-m", "app", "users", "create", "--count", count, "--group", "load test"]
    subprocess.run([*create, "--out", str(accounts)], cwd=ROOT, check=True)
    owner = json.loads(accounts.read_text())["accounts"][0]
    env = dict(os.environ, LOADTEST_ACCOUNTS=str(accounts))
    if not env.get("RANGE_URL"):
        video = out / "loadtest.mp4"
        fake_video(video, 16 << 20)
        env["RANGE_URL"] = args.host + upload_video(
            args.host, video, {"Authorization": f"Bearer {owner['access_token']}"}
        )
    command = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "locustfile.py"), "--headless",
        "--host", args.host, "-u", args.users, "-r", args.ramp, "-t", args.duration, "--stop-timeout", "5",
        "--csv", str(out / "huddle"), "--csv-full-history", "--html", str(out / "report.html"),
        "--only-summary",
    ]  # fmt: skip
    print("loadtest:", " ".join(command), file=sys.stderr)
    code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    print(f"loadtest: reports in {out}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
