"""Azurite (Microsoft's Azure Storage emulator, npm `azurite`) as a child process for the Azure tests.

`npm ci` installs it into ./node_modules from the committed package-lock.json (`make test` does that
when npm is there). Missing Node.js or Azurite skips the Azure tests, or fails them under
HUDDLE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.process import free_port, listening
from tests.services import unavailable

REPO = Path(__file__).resolve().parents[1]
# The emulator's fixed development account, published in Azurite's documentation: not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def find_azurite() -> str | None:
    """`AZURITE_BLOB` when set, else the project's node_modules, else PATH."""
    configured = os.environ.get("AZURITE_BLOB")
    if configured:
        return configured if Path(configured).exists() else None
    local = REPO / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    return shutil.which("azurite-blob")


def connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # Its own process group (start_new_session), so this reaches only the emulator we started.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def azurite(workdir: Path, timeout: float = 30, port: int | None = None) -> Iterator[str]:
    """Start azurite-blob on `port` (a free one by default) with its data in `workdir`; yield a
    connection string. Started again with the same folder and port, it serves the same blobs."""
    executable = find_azurite()
    if executable is None:
        unavailable("Azurite not found: run `npm ci` (needs Node.js and npm) or set AZURITE_BLOB")
    if shutil.which("node") is None:
        unavailable("Node.js (`node`) not found; Azurite needs it")
    port = port or free_port()
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    log = workdir / "azurite.log"
    command = [
        executable,
        *("--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data)),
        # Newer SDKs send API versions this Azurite may not know yet; --loose ignores unknown headers.
        *("--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"),
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while not listening(port):
            if process.poll() is not None:
                unavailable(f"Azurite exited with {process.returncode}: {log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                unavailable(f"Azurite not listening after {timeout}s: {log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield connection_string(port)
    finally:
        _stop(process)
