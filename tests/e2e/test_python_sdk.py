"""The Python SDK generated from the committed OpenAPI document (`make sdk`) builds with no warning
and works against a real server: an account's whole journey through the generated client."""

from __future__ import annotations

import importlib
import random
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.process import Server, run_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
CHUNK = 1024 * 1024  # the smallest chunk size the server offers


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert generator, "openapi-python-client is a dev dependency"
    out = tmp_path_factory.mktemp("sdk") / "python"
    generated = subprocess.run(
        [
            generator,
            "generate",
            "--path",
            str(ROOT / "sdk" / "openapi.json"),
            "--config",
            str(ROOT / "sdk" / "python-client.yaml"),
            "--output-path",
            str(out),
            "--overwrite",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "warning" not in output.lower(), output  # every operation and response made it in
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("huddle_client")
    finally:
        sys.path.remove(str(out))
        for name in [name for name in sys.modules if name.startswith("huddle_client")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("sdk-server"), BCRYPT_ROUNDS="4") as running:
        yield running


def api(name: str) -> Any:
    return importlib.import_module(f"huddle_client.api.{name}")


def video_bytes(size: int) -> bytes:
    """Starts like an MP4 file (an `ftyp` box); the server sniffs that much."""
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    return (head + random.Random(7).randbytes(size))[:size]


def test_the_generated_client_does_a_whole_journey(sdk: ModuleType, server: Server) -> None:
    models = importlib.import_module("huddle_client.models")
    types = importlib.import_module("huddle_client.types")
    anonymous = sdk.Client(base_url=server.url, raise_on_unexpected_status=True)
    password = "correct horse battery staple"

    def sign_up(name: str) -> Any:
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        body = models.RegisterBody(email=email, name=name, password=password)
        tokens = api("auth.register").sync(client=anonymous, body=body)
        assert isinstance(tokens, models.TokenResponse), tokens
        return tokens

    ann, bob = sign_up("Ann"), sign_up("Bob")

    # Sign in, and refresh: rotation hands out a new refresh token.
    signed_in = api("auth.login").sync(
        client=anonymous, body=models.LoginBody(email=ann.user.email, password=password)
    )
    assert isinstance(signed_in, models.TokenResponse)
    refreshed = api("auth.refresh").sync(
        client=anonymous, body=models.RefreshBody(refresh_token=signed_in.refresh_token)
    )
    assert isinstance(refreshed, models.TokenResponse)
    assert refreshed.refresh_token != signed_in.refresh_token
    as_ann = sdk.AuthenticatedClient(base_url=server.url, token=refreshed.access_token)
    as_bob = sdk.AuthenticatedClient(base_url=server.url, token=bob.access_token)

    # A group, a member, messages, and history paged back.
    group = api("groups.create_group").sync(client=as_ann, body=models.GroupCreate(name="SDK club"))
    assert isinstance(group, models.GroupOut)
    member = api("groups.add_member").sync(group.id, client=as_ann, body=models.UserRef(email=bob.user.email))
    assert isinstance(member, models.MemberOut)
    assert member.user_id == bob.user.id
    send = api("messages.send_message")
    for i in range(5):
        sent = send.sync(
            group.id, client=as_ann, body=models.SendMessage(text=f"hello {i}", client_msg_id=f"c-{i}")
        )
        assert isinstance(sent, models.ChatMessage), sent
    retried = send.sync_detailed(
        group.id, client=as_ann, body=models.SendMessage(text="hello 4", client_msg_id="c-4")
    )
    assert retried.status_code == 200  # idempotent: the first one's answer
    history = api("messages.history")
    page = history.sync(group.id, client=as_bob, limit=3)
    assert isinstance(page, models.MessagePage)
    older = history.sync(group.id, client=as_bob, limit=3, before_seq=page.items[0].seq)
    texts = [m.text for m in [*older.items, *page.items] if m.type_ == "message"]
    assert texts == [f"hello {i}" for i in range(5)]

    # Errors come back as the one documented error body.
    refused = api("groups.get_group").sync_detailed(10**9, client=as_bob)
    assert refused.status_code == 404
    assert isinstance(refused.parsed, models.ErrorBody)
    assert refused.parsed.code == "not_found"

    # A video through the resumable upload API, its qualities, and a signed range of it.
    content = video_bytes(CHUNK + 1000)
    upload = api("uploads.create_upload").sync(
        client=as_ann,
        body=models.UploadCreate(name="clip.mp4", size=len(content), group_id=group.id, chunk_size=CHUNK),
    )
    assert isinstance(upload, models.UploadOut), upload
    for index in range(upload.chunk_count):
        chunk = content[index * upload.chunk_size : (index + 1) * upload.chunk_size]
        ack = api("uploads.put_chunk").sync(
            uuid.UUID(upload.id), index, client=as_ann, body=types.File(payload=chunk)
        )
        assert isinstance(ack, models.ChunkAck), ack
    video = api("uploads.complete_upload").sync(uuid.UUID(upload.id), client=as_ann)
    assert isinstance(video, models.VideoOut), video
    fetched = api("videos.get_video").sync(video.id, client=as_bob)
    assert isinstance(fetched, models.VideoOut)
    assert fetched.qualities[0].quality == "original"
    signed = {key: values[0] for key, values in parse_qs(urlsplit(fetched.stream_url).query).items()}
    ranged = sdk.Client(base_url=server.url, headers={"Range": "bytes=100-199"})
    part = api("videos.stream_video").sync_detailed(video.id, client=ranged, **signed)
    assert part.status_code == 206
    assert part.content == content[100:200]
