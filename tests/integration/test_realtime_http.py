"""What a socket client sends, an event-stream client can send over HTTP (issue 23): typing, playback
control and clock sync, with the socket's rules, on both backends."""

from __future__ import annotations

import time

import pytest

from tests.conftest import WITH_REDIS_CLUSTER, AppClient
from tests.helpers import register
from tests.wsclient import AsgiWebSocket

pytestmark = [pytest.mark.anyio, WITH_REDIS_CLUSTER]


async def test_typing_and_playback_over_http_reach_the_sockets(client: AppClient) -> None:
    ann, bob = await register(client, "Ann"), await register(client, "Bob")
    group = (await client.post("/groups", json={"name": "lab"}, headers=ann.headers)).json()["id"]
    added = await client.post(f"/groups/{group}/members", json={"email": bob.email}, headers=ann.headers)
    assert added.status_code in (200, 201), added.text
    async with AsgiWebSocket(
        client.app, f"/ws/group/{group}", f"token={bob.access_token}&events=all"
    ) as bob_socket:
        await bob_socket.until(lambda frame: frame["type"] == "subscribed")
        typed = await client.post(f"/api/v1/groups/{group}/typing", headers=ann.headers)
        assert typed.status_code == 204
        typing = await bob_socket.until(lambda frame: frame["type"] == "typing")
        assert typing["user_id"] == ann.user["id"]
        again = await client.post(f"/api/v1/groups/{group}/typing", headers=ann.headers)
        assert again.status_code == 204  # throttled: accepted, nothing sent
        control = {"video_action": "play", "video_name": "clip.mp4", "video_time": 12.5}
        played = await client.post(f"/api/v1/groups/{group}/playback", json=control, headers=ann.headers)
        assert played.status_code == 200, played.text
        state = played.json()
        assert (state["playing"], state["position"], state["updated_by"]) == (True, 12.5, ann.user["id"])
        between = []
        while (frame := await bob_socket.frame())["type"] != "video_control":
            between.append(frame["type"])
        assert "typing" not in between  # the second typing within 2 s was throttled
        assert (frame["video_action"], frame["user"]) == ("play", ann.email)
        pushed = await bob_socket.until(lambda frame: frame["type"] == "playback_state")
        assert pushed["video_name"] == "clip.mp4"
        for _ in range(2):
            stopped = await client.delete(f"/api/v1/groups/{group}/typing", headers=ann.headers)
            assert stopped.status_code == 204
        stop = await bob_socket.until(lambda frame: frame["type"] == "typing")
        assert (stop["user_id"], stop["active"]) == (ann.user["id"], False)
        await client.post(f"/api/v1/groups/{group}/typing", headers=ann.headers)  # typing again: shown
        await client.post(f"/api/v1/groups/{group}/typing", headers=ann.headers)  # then throttled
        await client.post(f"/api/v1/groups/{group}/read", json={"seq": 1}, headers=ann.headers)
        after = []
        while (later := await bob_socket.frame())["type"] != "seen":
            after.append((later["type"], later.get("active")))
        assert after == [("typing", True)]  # one stop for two DELETEs, one start for two POSTs


async def test_http_actions_are_for_members_only_and_validated(client: AppClient) -> None:
    ann, stranger = await register(client, "Ann"), await register(client, "Stranger")
    group = (await client.post("/groups", json={"name": "lab"}, headers=ann.headers)).json()["id"]
    assert (await client.post(f"/api/v1/groups/{group}/typing", headers=stranger.headers)).status_code == 404
    stopped = await client.delete(f"/api/v1/groups/{group}/typing", headers=stranger.headers)
    assert stopped.status_code == 404
    control = {"video_action": "play", "video_time": 1}
    refused = await client.post(f"/api/v1/groups/{group}/playback", json=control, headers=stranger.headers)
    assert refused.status_code == 404
    for bad in (
        {"video_action": "rewind"},
        {"video_action": "seek", "video_time": -1},
        {"video_action": "rate", "rate": 9},
    ):
        answer = await client.post(f"/api/v1/groups/{group}/playback", json=bad, headers=ann.headers)
        assert answer.status_code == 400, (bad, answer.text)
    assert (await client.post(f"/api/v1/groups/{group}/typing")).status_code == 401


async def test_server_time_for_clock_sync(client: AppClient) -> None:
    before = time.time() * 1000
    answer = await client.get("/api/v1/time")
    after = time.time() * 1000
    assert answer.status_code == 200
    assert before <= answer.json()["server_time"] <= after


async def test_a_stopping_worker_refuses_new_streams(client: AppClient) -> None:
    """Once told to stop, a worker answers a new stream 503 (the client reconnects elsewhere): Granian
    would otherwise wait its whole graceful timeout for that endless response."""
    ann = await register(client, "Ann")
    client.app.state.gateway.stopping = True
    refused = await client.get("/api/v1/events", headers=ann.headers)
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "1")
    assert refused.json()["code"] == "service_unavailable"
