"""`huddle users create`: accounts made by an operator, for load tests and demos.

Each account is created (or its password reset) and signed in directly in the database, so a load
test needs neither the registration nor the sign-in rate limit lifted. The credentials file (mode 600)
holds every account's email, password and tokens. With `--group NAME`, the accounts also share a new
group (the first one its admin), made in the database too: a load test's owner need not add every
account past `MEMBER_ADD_RATE_LIMIT`; its id is the file's `group`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sys
from pathlib import Path

from app.config import Settings

USER_AGENT = "huddle users create"
MAX_ACCOUNTS = 10_000
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


def count(text: str) -> int:
    """argparse type: how many accounts, 1 to MAX_ACCOUNTS."""
    value = int(text)
    if not 1 <= value <= MAX_ACCOUNTS:
        raise argparse.ArgumentTypeError(f"from 1 to {MAX_ACCOUNTS}")
    return value


def emails(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{index}@{prefix}.example.com" for index in range(count)]


async def provision(
    settings: Settings, prefix: str, count: int, password: str, group: str | None = None
) -> tuple[list[dict[str, str]], int | None]:
    from app.db.models.groups import ROLE_ADMIN, ROLE_MEMBER, Group, Membership  # noqa: PLC0415
    from app.domain.accounts.services import AccountService  # noqa: PLC0415 -- not on `run`'s path
    from app.server.runtime import build_runtime  # noqa: PLC0415

    runtime = build_runtime(settings)
    try:
        password_hash = await runtime.passwords.hash(password)  # one hash: every account has the password
        accounts = []
        user_ids = []
        async with runtime.sessions() as db:
            service = AccountService(db, runtime)
            for index, email in enumerate(emails(prefix, count)):
                name = f"{prefix.title()} {index}"
                tokens = await service.provision(email, name, password_hash, USER_AGENT)
                user_ids.append(tokens.user.id)
                accounts.append(
                    {
                        "email": email,
                        "password": password,
                        "access_token": tokens.access_token,
                        "refresh_token": tokens.refresh_token,
                    }
                )
            group_id = None
            if group is not None:
                made = Group(name=group, description=USER_AGENT, created_by=user_ids[0])
                db.add(made)
                await db.flush()
                group_id = made.id
                db.add_all(
                    Membership(group_id=made.id, user_id=user_id, role=ROLE_ADMIN if n == 0 else ROLE_MEMBER)
                    for n, user_id in enumerate(user_ids)
                )
                await db.commit()
        return accounts, group_id
    finally:
        await runtime.close()


def create(args: argparse.Namespace, settings: Settings) -> None:
    if not _PREFIX.match(args.prefix):
        raise SystemExit("huddle: --prefix takes 1-31 lowercase letters, digits and dashes")
    if args.password_file is not None:
        password = Path(args.password_file).read_text().strip()
        if len(password) < 8:
            raise SystemExit("huddle: the password file must hold a password of 8 characters or more")
    else:
        password = secrets.token_urlsafe(18)
    if args.group is not None and args.count > settings.group_member_limit:
        raise SystemExit(
            f"huddle: --group takes at most GROUP_MEMBER_LIMIT ({settings.group_member_limit}) accounts"
        )
    accounts, group_id = asyncio.run(provision(settings, args.prefix, args.count, password, args.group))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch(mode=0o600)
    out.chmod(0o600)  # tokens and a password: the owner's eyes only, even if the file existed
    content: dict[str, object] = {"accounts": accounts}
    if group_id is not None:
        content["group"] = group_id
    out.write_text(json.dumps(content, indent=1))
    print(
        f"huddle: {len(accounts)} account(s) {emails(args.prefix, 1)[0]}... written to {out}", file=sys.stderr
    )
