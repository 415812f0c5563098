"""`huddle run | worker | transcode | users create | migrate | makemigration` (also `python -m app ...`)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from granian.constants import Interfaces
from granian.server import Server

from app.config import ConfigError, Settings, load_settings
from app.db import migrate
from app.observability.logs import granian_log_config
from app.observability.multiproc import multiprocess_dir
from app.server import accounts_cli
from app.shutdown import capture_worker_stop

if TYPE_CHECKING:
    from app.domain.media.transcode.jobs import Again

# Many long-lived WebSockets per worker: a deep accept queue, and a per-worker concurrency cap high
# enough that idle sockets never starve new HTTP requests.
BACKLOG = 4096
BACKPRESSURE_PER_WORKER = 20_000
SHUTDOWN_GRACE_SECONDS = 30


def _settings(overrides: dict[str, str]) -> Settings:
    # Flags become environment variables so every Granian worker reads the same settings.
    os.environ.update({key: value for key, value in overrides.items() if value})
    try:
        return load_settings()
    except ConfigError as error:
        for problem in error.problems:
            print(f"huddle: configuration error: {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def run(args: argparse.Namespace) -> None:
    settings = _settings({"HOST": args.host, "PORT": args.port, "WORKERS": args.workers})
    if problem := _listen_problem(settings.host, settings.port):
        print(f"huddle: cannot serve on {settings.host}:{settings.port}: {problem}", file=sys.stderr)
        raise SystemExit(1)
    if settings.is_sqlite:
        migrate.upgrade(settings.sqlalchemy_url)  # embedded mode keeps its schema current itself
    print(
        f"huddle: serving on http://{settings.host}:{settings.port} with {settings.workers} worker(s); "
        f"database={'sqlite' if settings.is_sqlite else 'postgresql'}, "
        f"broker={'redis' if settings.redis_url else 'in-process'}",
        file=sys.stderr,
    )
    # Workers share one metrics directory, made before any of them imports prometheus_client.
    with multiprocess_dir(os.environ):
        _serve(settings, reload=args.reload)


def _listen_problem(host: str, port: int) -> str | None:
    """Granian binds with SO_REUSEPORT, so a second server on a port in use would start and take half
    the connections: in the embedded mode its sockets would never hear the first server's messages.
    A plain bind tells first (SO_REUSEADDR only lets a stopped server's TIME_WAIT leftovers pass)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return "the port is in use; stop the server there, or choose another port (--port or PORT)"
            return error.strerror or str(error)
    return None


def _serve(settings: Settings, *, reload: bool) -> None:
    capture_worker_stop()  # the workers close their sockets with 1012 before they stop
    Server(
        "app.server.asgi:app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        backlog=BACKLOG,
        backpressure=BACKPRESSURE_PER_WORKER,
        respawn_failed_workers=True,
        workers_kill_timeout=SHUTDOWN_GRACE_SECONDS,
        log_access=False,  # access lines come from the app, with tokens redacted
        log_dictconfig=granian_log_config(),
        reload=reload,
    ).serve()


def worker(args: argparse.Namespace) -> None:
    """A dedicated transcode replica: the job runner without the HTTP server."""
    settings = _settings({"TRANSCODE_CONCURRENCY": args.concurrency})
    if settings.is_sqlite:
        migrate.upgrade(settings.sqlalchemy_url)
    concurrency = max(1, settings.transcode_concurrency)
    print(f"huddle: transcode worker with {concurrency} slot(s)", file=sys.stderr)
    asyncio.run(_work(settings, concurrency))


async def _work(settings: Settings, concurrency: int) -> None:
    # Imported here: `huddle run` must not build a runtime in the parent process.
    from app.domain.media.transcode.runner import TranscodeRunner  # noqa: PLC0415
    from app.observability.logs import configure_logging  # noqa: PLC0415
    from app.server.runtime import build_runtime  # noqa: PLC0415

    configure_logging(settings.log_level)
    runtime = build_runtime(settings)
    runner = TranscodeRunner(runtime, concurrency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner.start()
    try:
        await stop.wait()
    finally:
        await runner.stop()  # running jobs go back to the queue for another worker
        await runtime.close()


def transcode_command(args: argparse.Namespace) -> None:
    """Queue transcode jobs again; the runners (`huddle run` workers, `huddle worker`) take them."""
    settings = _settings({})
    if settings.is_sqlite:
        migrate.upgrade(settings.sqlalchemy_url)
    which: Again = "videos" if args.video else args.which
    queued = asyncio.run(_queue_again(settings, which, args.video))
    print(f"huddle: queued {len(queued)} transcode job(s)", file=sys.stderr)
    if missing := sorted(set(args.video) - set(queued)):
        print(
            f"huddle: not queued (no such video, or its job is queued or running): {missing}",
            file=sys.stderr,
        )


async def _queue_again(settings: Settings, which: Again, video_ids: list[int]) -> list[int]:
    from sqlalchemy.ext.asyncio import async_sessionmaker  # noqa: PLC0415 -- kept off `run`'s path

    from app.db.engine import create_engine  # noqa: PLC0415
    from app.domain.media.transcode.jobs import queue_again  # noqa: PLC0415

    engine = create_engine(settings)
    try:
        async with async_sessionmaker(engine)() as db:
            return await queue_again(db, which, video_ids)
    finally:
        await engine.dispose()


def users_create(args: argparse.Namespace) -> None:
    settings = _settings({})
    if settings.is_sqlite:
        migrate.upgrade(settings.sqlalchemy_url)
    accounts_cli.create(args, settings)


def migrate_command(args: argparse.Namespace) -> None:
    settings = _settings({})
    migrate.upgrade(settings.sqlalchemy_url, args.revision)
    print(f"huddle: database upgraded to {args.revision}", file=sys.stderr)


def makemigration(args: argparse.Namespace) -> None:
    settings = _settings({})
    migrate.upgrade(settings.sqlalchemy_url)
    migrate.revision(settings.sqlalchemy_url, args.message)


def openapi_command(args: argparse.Namespace) -> None:
    from app.server.app import create_app  # noqa: PLC0415 -- the whole app, only for this command
    from app.server.openapi_document import document_json  # noqa: PLC0415

    # Default settings, an in-memory database: the document never depends on this machine's setup.
    text = document_json(create_app(Settings(database_url="sqlite+aiosqlite://")).openapi_schema)
    if args.out == "-":
        sys.stdout.write(text)
        return
    Path(args.out).write_text(text, encoding="utf-8")


def asyncapi_command(args: argparse.Namespace) -> None:
    from app.ws.asyncapi import encoded  # noqa: PLC0415 -- the frame types, only for this command

    text = encoded()[0].decode() + "\n"
    if args.out == "-":
        sys.stdout.write(text)
        return
    Path(args.out).write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="huddle", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("run", help="serve the app with Granian")
    serve.add_argument("--host", default="", help="bind address (env HOST, default 127.0.0.1)")
    serve.add_argument("--port", default="", help="port (env PORT, default 8000)")
    serve.add_argument("--workers", default="", help="worker processes (env WORKERS, default 1)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    serve.set_defaults(func=run)

    transcode = commands.add_parser("worker", help="run transcode jobs only (no HTTP server)")
    transcode.add_argument(
        "--concurrency", default="", help="jobs at once (env TRANSCODE_CONCURRENCY, at least 1)"
    )
    transcode.set_defaults(func=worker)

    again = commands.add_parser(
        "transcode",
        help="queue transcode jobs again (videos with none, failed ones, all, or chosen ones)",
        description="Queue a fresh transcode job for the chosen videos that have none queued or "
        "running. A job makes only what is missing: the poster and the TRANSCODE_RENDITIONS heights "
        "below the source's that are not done yet.",
    )
    chosen = again.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--untranscoded",
        dest="which",
        action="store_const",
        const="untranscoded",
        help="videos that never had a job (uploaded before renditions existed)",
    )
    chosen.add_argument(
        "--failed", dest="which", action="store_const", const="failed", help="videos whose last job failed"
    )
    chosen.add_argument(
        "--all",
        dest="which",
        action="store_const",
        const="all",
        help="every video (after adding a height to TRANSCODE_RENDITIONS)",
    )
    chosen.add_argument(
        "--video", type=int, action="append", default=[], metavar="ID", help="this video (repeatable)"
    )
    again.set_defaults(func=transcode_command)

    users = commands.add_parser("users", help="manage accounts from the server side").add_subparsers(
        dest="action", required=True
    )
    create = users.add_parser(
        "create",
        help="create (or reset) N accounts and sign them in; writes a credentials file",
        description="Accounts <prefix>-0@<prefix>.example.com ... for load tests and demos, made in the "
        "database (no registration or sign-in limit applies), each signed in: the file (mode 600) lists "
        "email, password, access and refresh token. Run again to reset their password and sign in anew.",
    )
    create.add_argument("--count", type=accounts_cli.count, required=True, metavar="N", help="1 to 10,000")
    create.add_argument("--prefix", default="loadtest", help="email prefix and domain (default loadtest)")
    create.add_argument("--out", required=True, help="the credentials file to write (JSON)")
    create.add_argument("--password-file", help="read the password from this file (default: a random one)")
    create.add_argument(
        "--group", metavar="NAME", help="also make a group of these accounts (the first its admin)"
    )
    create.set_defaults(func=users_create)

    document = commands.add_parser(
        "openapi",
        help="write the OpenAPI document (the one /schema/openapi.json serves; SDKs are built from it)",
    )
    document.add_argument("--out", default="-", help="file to write (default: standard output)")
    document.set_defaults(func=openapi_command)

    socket_document = commands.add_parser(
        "asyncapi",
        help="write the sockets' AsyncAPI document (the one /schema/asyncapi.json serves)",
    )
    socket_document.add_argument("--out", default="-", help="file to write (default: standard output)")
    socket_document.set_defaults(func=asyncapi_command)

    upgrade = commands.add_parser("migrate", help="upgrade the database schema")
    upgrade.add_argument("--revision", default="head")
    upgrade.set_defaults(func=migrate_command)

    new = commands.add_parser("makemigration", help="autogenerate a migration from the models")
    new.add_argument("-m", "--message", required=True)
    new.set_defaults(func=makemigration)

    args = parser.parse_args(argv)
    args.func(args)
