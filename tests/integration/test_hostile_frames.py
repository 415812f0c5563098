"""Generated hostile socket input, on SQLite and on PostgreSQL + Redis: every client frame type with
each field deeply nested, holding NUL, a 400-digit number or the wrong type. The socket answers with an
error frame and stays open. Also: the flood limit closes a sustained flood, and malformed seed URLs get
a close code a client can read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest

from app.config import Settings
from app.ws.receive import FrameLimiter
from tests.conftest import AppClient
from tests.helpers import Account, register
from tests.wsclient import AsgiWebSocket

pytestmark = pytest.mark.anyio

DEEP = 1000


def base_frames(group: int) -> dict[str, dict[str, Any]]:
    """One valid frame of every type the server reads, each field present."""
    return {
        "message": {
            "type": "message",
            "text": "hi",
            "group_id": group,
            "client_msg_id": "c-1",
            "reply_to": 1,
        },
        "untyped": {"text": "hi"},
        "typing": {"type": "typing", "group_id": group},
        "seen": {"type": "seen", "seq": 1, "group_id": group},
        "video_control": {
            "type": "video_control",
            "video_action": "seek",
            "video_time": 1.5,
            "video_name": "clip.mp4",
            "rate": 1.0,
            "group_id": group,
        },
        "ping": {"type": "ping", "t": 1.0},
        "resume": {"type": "resume", "groups": {str(group): 0}},
        "subscribe": {"type": "subscribe", "groups": {str(group): 0}},
    }


# As JSON text: msgspec's encoder cannot write what is too deep for its decoder either.
MUTATIONS: dict[str, str] = {
    "nested": "[" * DEEP + "1" + "]" * DEEP,
    "NUL": '"a\\u0000b"',
    "400 digits": "9" * 400,
    "wrong type": '{"an": "object"}',
}


def hostile_frames(group: int) -> Iterator[tuple[str, str]]:
    for kind, frame in base_frames(group).items():
        for field in [name for name in frame if name != "type"]:
            for label, value in MUTATIONS.items():
                text = msgspec.json.encode(frame | {field: "<hostile>"}).decode()
                yield f"{kind}.{field} {label}", text.replace('"<hostile>"', value)
    yield "3,000-deep array", "[" * 3000 + "]" * 3000
    yield "3,000-deep object", '{"a":' * 3000 + "1" + "}" * 3000
    yield "an array", "[1, 2, 3]"
    yield "a lone surrogate", '{"type": "message", "text": "\\ud800"}'


async def seed_socket(client: AppClient) -> tuple[Account, int, AsgiWebSocket]:
    owner = await register(client)
    created = await client.post("/groups", json={"name": "lab"}, headers=owner.headers)
    group = int(created.json()["id"])
    return (
        owner,
        group,
        AsgiWebSocket(client.app, f"/ws/group/{group}", f"token={owner.access_token}&events=all"),
    )


async def answers_until_pong(socket: AsgiWebSocket, marker: float) -> list[dict[str, Any]]:
    """Ping, then every frame up to its pong: a socket that closed instead fails here."""
    await socket.send({"type": "ping", "t": marker})
    seen: list[dict[str, Any]] = []
    while (frame := await socket.frame())["type"] != "pong" or frame["t"] != marker:
        seen.append(frame)
    return seen


@pytest.fixture
async def roomy_client(make_client: Callable[[Settings], Any], settings: Settings) -> Any:
    """No rate limit in the way: every frame is read."""
    return await make_client(msgspec.structs.replace(settings, ws_frames_per_second=10_000))


async def test_no_frame_closes_the_socket(roomy_client: AppClient) -> None:
    _, group, socket = await seed_socket(roomy_client)
    failures: list[str] = []
    async with socket:
        for index, (label, text) in enumerate(hostile_frames(group)):
            await socket.send_text(text)
            answers = await answers_until_pong(socket, index)
            nested_or_nul = "nested" in label or "deep" in label or "NUL" in label
            errors = [frame["code"] for frame in answers if frame["type"] == "error"]
            if nested_or_nul and errors[:1] != ["invalid_frame"]:
                failures.append(f"{label}: {errors or answers}")
        assert await answers_until_pong(socket, -1) is not None  # still open after the last one
    assert not failures, "\n".join(failures)


class Clock:
    """Time for the frame limiter: 10 ms pass per frame, a client sending 100 frames a second."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.01
        return self.now


async def test_a_sustained_flood_is_closed(client: AppClient) -> None:
    """100 frames a second against the default 20: refill lets one in every 50 ms, which must not
    forgive the refusals between."""
    rate = client.app.state.gateway.runtime.settings.ws_frames_per_second
    client.app.state.gateway.limiter = FrameLimiter(rate, rate * 3, clock=Clock())
    _, _, socket = await seed_socket(client)
    async with socket:
        for index in range(1500):  # 15 s at 100 frames a second
            await socket.send({"type": "ping", "t": index})
        assert await socket.close_code() == 4429


@pytest.mark.parametrize(
    ("path", "query", "code"),
    [
        ("/ws/group/{group}", "last_seq=-1", 4400),
        ("/ws/group/{group}", "last_seq=abc", 4400),
        ("/ws/group/abc", "", 4404),
        ("/ws/group/0", "", 4404),
        ("/ws/group/" + "9" * 400, "", 4404),
    ],
)
async def test_a_malformed_seed_url_closes_with_a_readable_code(
    client: AppClient, path: str, query: str, code: int
) -> None:
    owner, group, _ = await seed_socket(client)
    token = f"token={owner.access_token}"
    socket = AsgiWebSocket(client.app, path.format(group=group), f"{token}&{query}" if query else token)
    async with socket:
        assert await socket.close_code() == code


async def test_an_empty_last_seq_is_no_last_seq(client: AppClient) -> None:
    owner, group, _ = await seed_socket(client)
    socket = AsgiWebSocket(
        client.app, f"/ws/group/{group}", f"token={owner.access_token}&last_seq=&events=all"
    )
    async with socket:
        await socket.until(lambda frame: frame["type"] == "subscribed")


async def test_the_idle_close_names_the_real_limit(
    make_client: Callable[[Settings], Any], settings: Settings
) -> None:
    """The reason once said 30 s while the limit was 90 s."""
    client = await make_client(msgspec.structs.replace(settings, ws_idle_timeout_seconds=1))
    _, _, socket = await seed_socket(client)
    async with socket:
        assert await socket.closed(timeout=10) == (4408, "idle: nothing received for 1 s")
