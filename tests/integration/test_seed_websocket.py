"""Seed 000's own WebSocket test, verbatim in substance, on both backends: a synchronous test client
connects to `/ws/group/{id}?token=`, sends `{"text": "Hello World!"}`, and the very next frame it
receives is that message (no hello, presence or ack first)."""

from __future__ import annotations

from litestar.testing import TestClient

from app.config import Settings
from app.server.app import create_app
from tests.helpers import PASSWORD, unique_email


def test_websocket_connection(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        email = unique_email()
        registered = client.post(
            "/register", json={"email": email, "name": "Test User", "password": PASSWORD}
        )
        token = registered.json()["access_token"]
        group = client.post(
            "/groups",
            json={"name": "My Group", "description": "seed"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        with client.websocket_connect(f"/ws/group/{group['id']}?token={token}") as websocket:
            websocket.send_json({"text": "Hello World!"})
            data = websocket.receive_json()
            assert data["text"] == "Hello World!"
    assert (data["type"], data["user"], data["group_id"]) == ("message", email, group["id"])
    assert data["created_at"].endswith("Z")
