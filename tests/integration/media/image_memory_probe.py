"""Peak memory of a worker taking many large images at once (security review, issue 22, item 5).

Run as `python -m tests.integration.media.image_memory_probe DIR COUNT [SIDE]`: one app on SQLite and
local disk under DIR, COUNT users' uploads of a SIDE x SIDE PNG (a few hundred KB that decode to
SIDE^2 x 3 bytes) completed in parallel; prints how much the process's peak RSS grew, in MiB, as JSON.
A process of its own, so nothing else the tests did counts toward its high-water mark.
"""

from __future__ import annotations

import asyncio
import json
import resource
import struct
import sys
import zlib
from pathlib import Path

import httpx

from app.config import Settings
from app.db import migrate
from app.server.app import create_app

CHUNK = 64 * 1024


def flat_png(side: int) -> bytes:
    """A SIDE x SIDE RGB PNG of one colour, compressed row by row (never the whole bitmap in memory)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = b"\x00" + bytes([30, 120, 200]) * side
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def _upload(client: httpx.AsyncClient, index: int, data: bytes) -> int:
    email = f"probe{index}@example.com"
    body = {"email": email, "name": "Probe", "password": "correct horse battery"}
    token = (await client.post("/api/v1/auth/register", json=body)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    gid = (await client.post("/api/v1/groups", json={"name": "g"}, headers=headers)).json()["id"]
    session = await client.post(
        "/api/v1/uploads",
        json={
            "name": "big.png",
            "size": len(data),
            "group_id": gid,
            "chunk_size": CHUNK,
            "purpose": "attachment",
        },
        headers=headers,
    )
    upload_id = session.json()["id"]
    for number, offset in enumerate(range(0, len(data), CHUNK)):
        await client.put(
            f"/api/v1/uploads/{upload_id}/chunks/{number}",
            content=data[offset : offset + CHUNK],
            headers=headers,
        )
    done = await client.post(f"/api/v1/uploads/{upload_id}/complete", headers=headers)
    return done.status_code


async def main(root: Path, count: int, side: int) -> None:
    url = f"sqlite+aiosqlite:///{root / 'probe.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    settings = Settings(
        secret_key="probe-key-" + "x9Qz" * 10,
        database_url=url,
        var_dir=root / "var",
        media_dir=root / "media",
        bcrypt_rounds=4,
        login_rate_limit=1000,
        upload_chunk_min_bytes=1024,
        transcode_concurrency=0,
    )
    data = flat_png(side)
    app = create_app(settings)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe", timeout=600) as client:
            await client.get("/health")
            before = peak_mib()
            statuses = await asyncio.gather(*[_upload(client, n, data) for n in range(count)])
            after = peak_mib()
    print(
        json.dumps(
            {
                "statuses": statuses,
                "file_bytes": len(data),
                "before_mib": before,
                "growth_mib": after - before,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 7000))
