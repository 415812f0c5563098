"""Open N WebSockets (or event streams), wait until each is ready, hold them idle, print one JSON
line, close them.

python loadtests/idle_sockets.py SETUP.json N --hold SECONDS [--ready-type subscribed] [--pids 1,2]
                                 [--sse URL] [--first I --ready-file PATH]

With `--sse URL` each connection is `GET URL` with the token as a bearer header, ready at its first
`event: <ready-type>` line (or its first byte when the type is empty), read to the end while held.

SETUP.json is the fan-out setup file (`ws` template with {group} and {token}, `group`, `tokens`);
connections take tokens round-robin. A socket counts as ready when its first frame of type
`--ready-type` arrives (Huddle sends `ready` then `subscribed`), or at once when the type is empty
(a bare server that only accepts). With `--pids`, the summed RSS of those processes is sampled after
every socket is ready and has been idle for `--settle` seconds. A process holds at most ~20k open files
here, so the bench splits larger counts over several clients (`--first`: the first connection's
index, `--ready-file`: written once this client's connections are ready) and samples RSS itself. Bounded: a connect or ready wait
longer than `--timeout` fails the run; only 127.0.0.1 is allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import websockets
from websockets.asyncio.client import ClientConnection

BATCH = 200


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


async def open_one(url: str, ready_type: str, timeout: float) -> ClientConnection:
    socket = await websockets.connect(url, open_timeout=timeout, max_size=2**22, ping_interval=None)
    if ready_type:
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await socket.recv())
                if frame.get("type") == ready_type:
                    break
    return socket


class Stream:
    """An event stream over a raw connection: nothing but the bytes a browser would hold open."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def close(self) -> None:
        self.writer.close()


async def open_stream(url: str, token: str, ready_type: str, timeout: float) -> Stream:
    parts = urlsplit(url)
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        request = (
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        writer.write(request.encode())
        wanted = f"event: {ready_type}".encode()
        while line := await reader.readline():
            if not ready_type or line.startswith(wanted):
                return Stream(reader, writer)
    raise RuntimeError("the stream ended before it was ready")


async def drain_stream(stream: Stream) -> None:
    while await stream.reader.read(65536):
        pass


async def drain(socket: ClientConnection) -> None:
    # Keep reading so the server never sees a slow consumer while the sockets sit idle.
    try:
        async for _ in socket:
            pass
    except websockets.ConnectionClosed:
        pass


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("setup")
    parser.add_argument("count", type=int)
    parser.add_argument("--hold", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--ready-type", default="subscribed")
    parser.add_argument("--pids", default="")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--sse", default="", help="an event-stream URL: hold streams, not sockets")
    parser.add_argument("--first", type=int, default=0, help="index of the first connection (its token)")
    parser.add_argument(
        "--ready-file", default="", help="written once every connection is ready (several clients)"
    )
    args = parser.parse_args()
    if args.sse and urlsplit(args.sse).hostname != "127.0.0.1":
        sys.exit("idle_sockets: loopback (127.0.0.1) targets only")
    setup = json.loads(Path(args.setup).read_text())
    if urlsplit(setup["ws"].split("?")[0].replace("{group}", "0")).hostname != "127.0.0.1":
        sys.exit("idle_sockets: loopback (127.0.0.1) targets only")
    pids = [int(p) for p in args.pids.split(",") if p]
    tokens = setup.get("tokens") or [""]

    def url(i: int) -> str:
        token = quote(tokens[i % len(tokens)], safe="")
        return setup["ws"].replace("{group}", str(setup.get("group", 0))).replace("{token}", token)

    before = rss_kib(pids) if pids else 0
    started = time.perf_counter()
    sockets: list[Any] = []
    last = args.first + args.count
    for base in range(args.first, last, BATCH):
        part = range(base, min(last, base + BATCH))
        if args.sse:
            token = tokens
            opening = [
                open_stream(args.sse, token[i % len(token)], args.ready_type, args.timeout) for i in part
            ]
        else:
            opening = [open_one(url(i), args.ready_type, args.timeout) for i in part]
        sockets += await asyncio.gather(*opening)
    ready_seconds = time.perf_counter() - started
    if args.ready_file:
        Path(args.ready_file).write_text(json.dumps({"ready_seconds": round(ready_seconds, 3)}))
    readers = [asyncio.create_task(drain_stream(s) if args.sse else drain(s)) for s in sockets]
    await asyncio.sleep(args.settle)
    after = rss_kib(pids) if pids else 0
    await asyncio.sleep(max(0.0, args.hold - args.settle))
    print(
        json.dumps(
            {
                "sockets": len(sockets),
                "ready_seconds": round(ready_seconds, 3),
                "rss_before_kib": before,
                "rss_after_kib": after,
                "per_socket_kib": round((after - before) / len(sockets), 2) if pids else None,
            }
        ),
        flush=True,
    )
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    for reader in readers:
        reader.cancel()


if __name__ == "__main__":
    asyncio.run(main())
