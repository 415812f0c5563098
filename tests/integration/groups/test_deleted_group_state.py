"""Security review (issue 22), item 1: a group created after another was deleted inherits nothing of
it, neither its id (SQLite used to hand the highest id out again) nor its playback state. On SQLite
with in-process state and on PostgreSQL + Redis."""

from __future__ import annotations

import pytest

from app.server.app import runtime_of
from tests.conftest import AppClient
from tests.helpers import register
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio


async def _group(client: AppClient, headers: dict[str, str], name: str) -> int:
    response = await client.post("/api/v1/groups", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_a_new_group_inherits_no_id_and_no_playback_state(client: AppClient) -> None:
    owner = await register(client, "Owner")
    old = await _group(client, owner.headers, "Watch party")
    socket = AsgiWebSocket(client.app, f"/ws/group/{old}", f"token={owner.access_token}&events=all")
    async with socket:
        await socket.until(lambda frame: frame["type"] == "subscribed")
        await socket.send(
            {"type": "video_control", "video_action": "play", "video_name": "private.mp4", "video_time": 42.0}
        )
        await socket.until(lambda frame: frame["type"] == "playback_state")
    playback = runtime_of(client.app).playback
    assert (await playback.get(old)) is not None
    assert (await client.delete(f"/api/v1/groups/{old}", headers=owner.headers)).status_code == 204
    assert await playback.get(old) is None  # gone with its group, not left behind
    newcomer = await register(client, "Newcomer")
    new = await _group(client, newcomer.headers, "Fresh group")
    assert new != old
    state = await playback.get(new)
    assert state is None or state.video_name is None
