"""The "who is watching" routes (see app/domain/watching.py)."""

from __future__ import annotations

from typing import Annotated

from litestar import delete, get, put
from litestar.params import JSONBody, Parameter

from app.domain.accounts.deps import Authenticated
from app.domain.groups.access import require_member
from app.domain.params import DbSession, Id, RuntimeDep
from app.domain.watching import (
    RENEW_SECONDS,
    TAB_PATTERN,
    WATCHING_TTL_SECONDS,
    Watching,
    WatchingIn,
    WatchingOut,
)
from app.web.responses import BEARER, error_responses
from app.web.routes import area

TAGS = ["realtime"]
WATCHING_PATH = "/api/v1/groups/{group_id:int}/watching"


async def _set(
    group_id: int, tab: str, on: bool, principal: Authenticated, db_session: DbSession, runtime: RuntimeDep
) -> WatchingOut:
    await require_member(db_session, group_id, principal.user_id)
    users, changed = await runtime.watching.set(group_id, principal.user_id, tab, on)
    if changed:
        await runtime.events.to_group(group_id, Watching(group_id=group_id, user_ids=users))
    return WatchingOut(group_id=group_id, user_ids=users)


@get(
    WATCHING_PATH,
    summary="Members with the group's player open, across every worker and replica",
)
async def watching_members(
    group_id: Id, principal: Authenticated, db_session: DbSession, runtime: RuntimeDep
) -> WatchingOut:
    await require_member(db_session, group_id, principal.user_id)
    return WatchingOut(group_id=group_id, user_ids=await runtime.watching.watchers(group_id))


@put(
    WATCHING_PATH,
    summary=f"This tab has the player open: renew every {RENEW_SECONDS} s (an entry lasts "
    f"{WATCHING_TTL_SECONDS} s); the group hears of a change",
    responses=error_responses(400),
)
async def start_watching(
    group_id: Id,
    data: JSONBody[WatchingIn],
    principal: Authenticated,
    db_session: DbSession,
    runtime: RuntimeDep,
) -> WatchingOut:
    return await _set(group_id, data.tab, True, principal, db_session, runtime)  # noqa: FBT003


@delete(
    WATCHING_PATH,
    status_code=200,
    summary="This tab closed the player; the group hears of a change",
    responses=error_responses(400),
)
async def stop_watching(
    group_id: Id,
    principal: Authenticated,
    db_session: DbSession,
    runtime: RuntimeDep,
    tab: Annotated[str, Parameter(min_length=1, max_length=64, pattern=TAB_PATTERN)],
) -> WatchingOut:
    return await _set(group_id, tab, False, principal, db_session, runtime)  # noqa: FBT003


route_handlers = [
    area(watching_members, start_watching, stop_watching, tags=TAGS, security=BEARER, errors=(401, 404))
]
