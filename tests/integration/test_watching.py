"""Who is watching (app/domain/watching.py): per-tab entries, counted per member, for members only; on
memory (SQLite) and on Redis (PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.conftest import WITH_REDIS_CLUSTER, AppClient
from tests.helpers import register
from tests.integration.groups.test_groups import add, make_group

pytestmark = [pytest.mark.anyio, WITH_REDIS_CLUSTER]


async def test_tabs_open_and_close_the_player_and_only_members_may_say_so(client: AppClient) -> None:
    ada = await register(client, name="Ada")
    bo = await register(client, name="Bo")
    outsider = await register(client, name="Eve")
    group = await make_group(client, ada)
    await add(client, ada, group["id"], bo)
    path = f"/api/v1/groups/{group['id']}/watching"
    ada_id, bo_id = ada.user["id"], bo.user["id"]

    assert (await client.get(path, headers=bo.headers)).json() == {"group_id": group["id"], "user_ids": []}
    opened = await client.put(path, json={"tab": "ada-1"}, headers=ada.headers)
    assert opened.status_code == 200, opened.text
    assert opened.json()["user_ids"] == [ada_id]
    await client.put(path, json={"tab": "ada-2"}, headers=ada.headers)  # a second tab: Ada counts once
    both = await client.put(path, json={"tab": "bo-1"}, headers=bo.headers)
    assert both.json()["user_ids"] == [ada_id, bo_id]
    renewed = await client.put(path, json={"tab": "bo-1"}, headers=bo.headers)  # the heartbeat
    assert renewed.json()["user_ids"] == [ada_id, bo_id]

    closed = await client.delete(path, params={"tab": "ada-1"}, headers=ada.headers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["user_ids"] == [ada_id, bo_id]  # Ada's other tab still watches
    await client.delete(path, params={"tab": "ada-2"}, headers=ada.headers)
    assert (await client.get(path, headers=ada.headers)).json()["user_ids"] == [bo_id]

    for response in (
        await client.get(path, headers=outsider.headers),
        await client.put(path, json={"tab": "eve"}, headers=outsider.headers),
        await client.delete(path, params={"tab": "eve"}, headers=outsider.headers),
    ):
        assert response.status_code == 404  # like every group route: no existence leak
    bad = await client.put(path, json={"tab": "<script>"}, headers=ada.headers)
    assert bad.status_code == 400
    assert (await client.get(path)).status_code == 401
