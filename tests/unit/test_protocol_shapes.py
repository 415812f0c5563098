"""Every server event type has its JSON shape pinned here (Zulip's event_schema idea): changing a
frame is a protocol change and must change this file and docs/protocol.md together."""

from __future__ import annotations

import datetime as dt
import inspect
from typing import Any

import msgspec
import pytest

from app.domain import frames
from app.domain.groups import schemas as group_schemas
from app.domain.media import schemas as media_schemas
from app.domain.messages import schemas as message_schemas
from app.ws import protocol
from app.ws.receive import decode_frame

AT = dt.datetime(2025, 12, 18, 10, 30, tzinfo=dt.UTC)
ISO = "2025-12-18T10:30:00Z"

VIDEO = media_schemas.VideoInfo(
    id=4,
    group_id=1,
    name="clip.mp4",
    content_type="video/mp4",
    size=1024,
    etag='"abc"',
    uploader_id=5,
    created_at=AT,
    subtitles=[
        media_schemas.SubtitleInfo(
            id=2,
            video_id=4,
            label="English",
            language="en",
            kind="captions",
            source_format="srt",
            cue_count=12,
            size=640,
            uploader_id=5,
            created_at=AT,
        )
    ],
)
VIDEO_SHAPE = {
    "id": 4,
    "group_id": 1,
    "name": "clip.mp4",
    "content_type": "video/mp4",
    "size": 1024,
    "etag": '"abc"',
    "uploader_id": 5,
    "created_at": ISO,
    "subtitles": [
        {
            "id": 2,
            "video_id": 4,
            "label": "English",
            "language": "en",
            "kind": "captions",
            "source_format": "srt",
            "cue_count": 12,
            "size": 640,
            "uploader_id": 5,
            "created_at": ISO,
        }
    ],
}

PINNED: list[tuple[msgspec.Struct, dict[str, Any]]] = [
    (
        message_schemas.ChatMessage(
            id="7",
            seq=3,
            group_id=1,
            text="Hello everyone!",
            user="user@example.com",
            user_id=5,
            user_name="Ann",
            created_at=AT,
            client_msg_id="c1",
            reply_to=2,
            reactions=[message_schemas.ReactionOut("👍", 2, True)],
            mentions=[8],
        ),
        {
            "type": "message",
            "id": "7",
            "seq": 3,
            "group_id": 1,
            "text": "Hello everyone!",
            "user": "user@example.com",
            "user_id": 5,
            "user_name": "Ann",
            "created_at": ISO,
            "client_msg_id": "c1",
            "reply_to": 2,
            "video_id": None,
            "edited_at": None,
            "deleted": False,
            "reactions": [{"emoji": "👍", "count": 2, "me": True}],
            "attachments": [],
            "mentions": [8],
        },
    ),
    (
        message_schemas.ChatMessage(
            id="9",
            seq=5,
            group_id=1,
            text="",
            user="user@example.com",
            user_id=5,
            user_name="Ann",
            created_at=AT,
            attachments=[
                message_schemas.AttachmentOut(
                    id=11,
                    name="cat.png",
                    kind="image",
                    content_type="image/png",
                    size=2048,
                    width=640,
                    height=480,
                    url="/api/v1/attachments/11?exp=1766054100&sig=s1",
                    thumbnail_url="/api/v1/attachments/11/thumbnail?exp=1766054100&sig=s2",
                    url_expires_at=AT,
                ),
                message_schemas.AttachmentOut(
                    id=12,
                    name="report.pdf",
                    kind="pdf",
                    content_type="application/pdf",
                    size=4096,
                    width=None,
                    height=None,
                    url="/api/v1/attachments/12?exp=1766054100&sig=s3",
                    thumbnail_url=None,
                    url_expires_at=AT,
                ),
            ],
        ),
        {
            "type": "message",
            "id": "9",
            "seq": 5,
            "group_id": 1,
            "text": "",
            "user": "user@example.com",
            "user_id": 5,
            "user_name": "Ann",
            "created_at": ISO,
            "client_msg_id": None,
            "reply_to": None,
            "video_id": None,
            "edited_at": None,
            "deleted": False,
            "reactions": [],
            "attachments": [
                {
                    "id": 11,
                    "name": "cat.png",
                    "kind": "image",
                    "content_type": "image/png",
                    "size": 2048,
                    "width": 640,
                    "height": 480,
                    "url": "/api/v1/attachments/11?exp=1766054100&sig=s1",
                    "thumbnail_url": "/api/v1/attachments/11/thumbnail?exp=1766054100&sig=s2",
                    "url_expires_at": ISO,
                },
                {
                    "id": 12,
                    "name": "report.pdf",
                    "kind": "pdf",
                    "content_type": "application/pdf",
                    "size": 4096,
                    "width": None,
                    "height": None,
                    "url": "/api/v1/attachments/12?exp=1766054100&sig=s3",
                    "thumbnail_url": None,
                    "url_expires_at": ISO,
                },
            ],
            "mentions": [],
        },
    ),
    (
        message_schemas.MemberAdded(
            id="8",
            seq=4,
            group_id=1,
            text="John Doe (john@example.com) was added to My Group",
            user_email="john@example.com",
            user_id=9,
            created_at=AT,
        ),
        {
            "type": "add",
            "id": "8",
            "seq": 4,
            "group_id": 1,
            "text": "John Doe (john@example.com) was added to My Group",
            "user_email": "john@example.com",
            "user_id": 9,
            "created_at": ISO,
            "user": "system",
        },
    ),
    (
        message_schemas.MemberLeft(
            id="9",
            seq=5,
            group_id=1,
            text="John Doe (john@example.com) left My Group",
            user_email="john@example.com",
            user_id=9,
            created_at=AT,
        ),
        {
            "type": "leave",
            "id": "9",
            "seq": 5,
            "group_id": 1,
            "text": "John Doe (john@example.com) left My Group",
            "user_email": "john@example.com",
            "user_id": 9,
            "created_at": ISO,
            "user": "system",
        },
    ),
    (
        message_schemas.VideoControl(
            id="10",
            seq=6,
            group_id=1,
            video_action="play",
            video_name="sample.mp4",
            video_time=120.5,
            user="user@example.com",
            user_id=5,
            created_at=AT,
        ),
        {
            "type": "video_control",
            "id": "10",
            "seq": 6,
            "group_id": 1,
            "video_action": "play",
            "video_name": "sample.mp4",
            "video_time": 120.5,
            "user": "user@example.com",
            "user_id": 5,
            "created_at": ISO,
        },
    ),
    (
        message_schemas.MessageEdited(id="7", seq=3, group_id=1, text="fixed", edited_at=AT, mentions=[8]),
        {
            "type": "message_edited",
            "id": "7",
            "seq": 3,
            "group_id": 1,
            "text": "fixed",
            "edited_at": ISO,
            "mentions": [8],
        },
    ),
    (
        message_schemas.MessageDeleted(id="7", seq=3, group_id=1, deleted_by=5),
        {"type": "message_deleted", "id": "7", "seq": 3, "group_id": 1, "deleted_by": 5},
    ),
    (
        message_schemas.ReactionChanged(group_id=1, seq=3, emoji="🎉", user_id=5, action="add", count=1),
        {
            "type": "reaction",
            "group_id": 1,
            "seq": 3,
            "emoji": "🎉",
            "user_id": 5,
            "action": "add",
            "count": 1,
        },
    ),
    (
        message_schemas.Seen(group_id=1, user_id=5, seq=3),
        {"type": "seen", "group_id": 1, "user_id": 5, "seq": 3},
    ),
    (
        group_schemas.GroupUpdated(group_id=1, name="Movie night", description=None),
        {"type": "group_updated", "group_id": 1, "name": "Movie night", "description": None},
    ),
    (group_schemas.GroupDeleted(group_id=1), {"type": "group_deleted", "group_id": 1}),
    (
        group_schemas.RoleChanged(group_id=1, user_id=5, role="admin"),
        {"type": "member_role", "group_id": 1, "user_id": 5, "role": "admin"},
    ),
    (
        protocol.Ready(user_id=5, groups=[1, 2], server_time=1.5),
        {"type": "ready", "user_id": 5, "groups": [1, 2], "server_time": 1.5},
    ),
    (
        protocol.Ack(client_msg_id="c1", id="7", seq=3, group_id=1),
        {"type": "ack", "client_msg_id": "c1", "id": "7", "seq": 3, "group_id": 1},
    ),
    (
        protocol.ErrorFrame(code="invalid_frame", detail="Expected `str`", client_msg_id="c1"),
        {"type": "error", "code": "invalid_frame", "detail": "Expected `str`", "client_msg_id": "c1"},
    ),
    (protocol.ErrorFrame(code="x", detail="y"), {"type": "error", "code": "x", "detail": "y"}),
    (protocol.Reset(group_id=1, latest_seq=900), {"type": "reset", "group_id": 1, "latest_seq": 900}),
    (protocol.Pong(t=10.0, server_time=12.5), {"type": "pong", "t": 10.0, "server_time": 12.5}),
    (
        protocol.Typing(group_id=1, user_id=5, user_name="Ann", active=False),
        {"type": "typing", "group_id": 1, "user_id": 5, "user_name": "Ann", "active": False},
    ),
    (
        protocol.Presence(group_id=1, user_id=5, status="online"),
        {"type": "presence", "group_id": 1, "user_id": 5, "status": "online"},
    ),
    (
        frames.PlaybackState(
            group_id=1,
            video_name="sample.mp4",
            position=12.5,
            playing=True,
            rate=1.0,
            updated_at=100.0,
            server_time=150.0,
            updated_by=5,
        ),
        {
            "type": "playback_state",
            "group_id": 1,
            "video_name": "sample.mp4",
            "position": 12.5,
            "playing": True,
            "rate": 1.0,
            "updated_at": 100.0,
            "server_time": 150.0,
            "updated_by": 5,
        },
    ),
    (
        protocol.Subscribed(group_id=1, latest_seq=42, online=[5, 9]),
        {"type": "subscribed", "group_id": 1, "latest_seq": 42, "online": [5, 9]},
    ),
    (
        frames.SessionEnded(user_id=5, reason="logout", session_id="abc"),
        {
            "type": "session_ended",
            "user_id": 5,
            "reason": "logout",
            "session_id": "abc",
            "keep_session": None,
        },
    ),
    (frames.GroupJoined(group_id=1, from_seq=3), {"type": "group_joined", "group_id": 1, "from_seq": 3}),
    (
        protocol.StreamClosed(code=1013, reason="too slow"),
        {"type": "close", "code": 1013, "reason": "too slow"},
    ),
    (
        media_schemas.VideoAdded(group_id=1, video=VIDEO),
        {"type": "video_added", "group_id": 1, "video": VIDEO_SHAPE},
    ),
    (
        media_schemas.VideoUpdated(group_id=1, video=VIDEO),
        {"type": "video_updated", "group_id": 1, "video": VIDEO_SHAPE},
    ),
    (
        media_schemas.VideoDeleted(group_id=1, video_id=4),
        {"type": "video_deleted", "group_id": 1, "video_id": 4},
    ),
    (
        media_schemas.VideoProcessing(
            group_id=1,
            video_id=4,
            state="running",
            error=None,
            duration=2.0,
            width=1280,
            height=720,
            poster=True,
            qualities=[
                media_schemas.QualityState(
                    quality="original",
                    height=720,
                    width=1280,
                    size=1024,
                    bitrate=4096,
                    state="done",
                    progress=100,
                ),
                media_schemas.QualityState(
                    quality="360p",
                    height=360,
                    width=None,
                    size=None,
                    bitrate=None,
                    state="running",
                    progress=40,
                ),
            ],
        ),
        {
            "type": "video_processing",
            "group_id": 1,
            "video_id": 4,
            "state": "running",
            "error": None,
            "duration": 2.0,
            "width": 1280,
            "height": 720,
            "poster": True,
            "qualities": [
                {
                    "quality": "original",
                    "height": 720,
                    "width": 1280,
                    "size": 1024,
                    "bitrate": 4096,
                    "state": "done",
                    "progress": 100,
                },
                {
                    "quality": "360p",
                    "height": 360,
                    "width": None,
                    "size": None,
                    "bitrate": None,
                    "state": "running",
                    "progress": 40,
                },
            ],
        },
    ),
]


@pytest.mark.parametrize(
    ("event", "shape"), PINNED, ids=lambda v: type(v).__name__ if isinstance(v, msgspec.Struct) else ""
)
def test_event_shape(event: msgspec.Struct, shape: dict[str, Any]) -> None:
    encoded = msgspec.json.decode(msgspec.json.encode(event))
    assert encoded == shape
    assert list(encoded) == list(shape)  # the tag comes first, fields in a stable order


CLIENT_TYPES = {"message", "typing", "seen", "video_control", "ping", "resume", "subscribe"}


def _server_events() -> set[type]:
    found = set()
    for module in (protocol, frames, message_schemas, group_schemas, media_schemas):
        for _, value in inspect.getmembers(module, inspect.isclass):
            config = getattr(value, "__struct_config__", None)
            if config is not None and config.tag_field == "type" and value.__module__ == module.__name__:
                found.add(value)
    return {
        cls
        for cls in found
        if not (
            cls.__module__ == protocol.__name__
            and cls.__struct_config__.tag in CLIENT_TYPES
            and cls.__name__.endswith("Frame")
        )
    }


def test_every_server_event_type_is_pinned() -> None:
    assert _server_events() == {type(event) for event, _ in PINNED}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '{"type": "message", "text": "hi", "client_msg_id": "c1"}',
            protocol.SendFrame(text="hi", client_msg_id="c1"),
        ),
        ('{"text": "seed tests send no type"}', protocol.SendFrame(text="seed tests send no type")),
        (
            '{"type": "message", "attachment_ids": [3, 4], "group_id": 2}',
            protocol.SendFrame(attachment_ids=[3, 4], group_id=2),
        ),
        ('{"type": "typing", "group_id": 3}', protocol.TypingFrame(group_id=3)),
        (
            '{"type": "typing", "group_id": 3, "active": false}',
            protocol.TypingFrame(group_id=3, active=False),
        ),
        ('{"type": "seen", "seq": 9}', protocol.SeenFrame(seq=9)),
        (
            '{"type": "video_control", "video_action": "seek", "video_name": "a.mp4", "video_time": 12.5}',
            protocol.VideoControlFrame(video_action="seek", video_name="a.mp4", video_time=12.5),
        ),
        ('{"type": "ping", "t": 1.25}', protocol.PingFrame(t=1.25)),
        ('{"type": "resume", "groups": {"1": 10, "2": null}}', protocol.ResumeFrame(groups={1: 10, 2: None})),
        ('{"type": "subscribe", "groups": {"4": 0}}', protocol.SubscribeFrame(groups={4: 0})),
    ],
)
def test_client_frames_decode(raw: str, expected: msgspec.Struct) -> None:
    assert decode_frame(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        "[]",
        '{"type": "message"}',
        '{"type": "message", "text": "   "}',
        '{"type": "message", "attachment_ids": []}',
        '{"type": "message", "text": "hi", "attachment_ids": [' + ", ".join(["1"] * 11) + "]}",
        '{"type": "message", "attachment_ids": [0]}',
        '{"type": "message", "text": "' + "x" * 10_001 + '"}',
        '{"type": "unknown"}',
        '{"type": "video_control", "video_action": "play", "video_time": -1}',
        '{"type": "video_control", "video_action": "rate", "rate": 100}',
        '{"type": "resume", "groups": {"x": 1}}',
        '{"type": "seen", "seq": "nine"}',
    ],
)
def test_bad_client_frames_are_refused(raw: str) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        decode_frame(raw)
