"""The socket's contract (app/ws/asyncapi.py): a valid AsyncAPI 3.0.0 document with every frame type,
subprotocol and close code in it. Real frames are checked against it in
tests/integration/test_asyncapi.py."""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from app.domain import watching
from app.domain.groups import schemas as group_schemas
from app.domain.media import schemas as media_schemas
from app.domain.messages import schemas as message_schemas
from app.ws import asyncapi, fanout, protocol
from app.ws.fanout import CloseCode
from app.ws.handshake import BEARER_SUBPROTOCOL, SUBPROTOCOLS
from app.ws.sse import closing_chunk
from tests.asyncapi import FrameChecker, asyncapi_validator, errors

DOCUMENT = asyncapi.build()
SOCKETS = ("socket", "groupSocket")
# Where tagged frame Structs live: the protocol module and the domains' event types.
FRAME_MODULES: tuple[ModuleType, ...] = (protocol, message_schemas, group_schemas, media_schemas, watching)


def tagged_structs(module: ModuleType) -> list[type[msgspec.Struct]]:
    return [
        value
        for _, value in inspect.getmembers(module, inspect.isclass)
        if issubclass(value, msgspec.Struct)
        and value.__module__ == module.__name__
        and value.__struct_config__.tag is not None
    ]


def struct_name(frame: type) -> str:
    return f"{frame.__module__}.{frame.__qualname__}"


def resolve(pointer: str) -> Any:
    node: Any = DOCUMENT
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def test_document_is_valid_asyncapi_3() -> None:
    assert DOCUMENT["asyncapi"] == "3.0.0"
    assert errors(asyncapi_validator(), DOCUMENT) == []


def test_the_official_schema_is_strict_enough_to_catch_a_mistake() -> None:
    """The validator really reads the document (an AsyncAPI 2 `publish` is refused)."""
    broken = msgspec.json.decode(msgspec.json.encode(DOCUMENT))
    broken["operations"]["sendEvents"]["action"] = "publish"
    assert errors(asyncapi_validator(), broken)


def test_every_reference_resolves() -> None:
    found = refs(DOCUMENT)
    assert len(found) > 100
    for ref in found:
        assert ref.startswith("#/"), ref
        assert isinstance(resolve(ref), dict), ref


def test_operations_use_their_channels_messages() -> None:
    for name, operation in DOCUMENT["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), (name, message)


def test_channel_addresses_and_parameters_agree() -> None:
    for name, channel in DOCUMENT["channels"].items():
        in_address = set(re.findall(r"{(\w+)}", channel["address"]))
        assert in_address == set(channel.get("parameters", {})), name


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda module: module.__name__)
def test_every_tagged_struct_is_a_message(module: ModuleType) -> None:
    """Each frame type is a message with its own Struct as payload, named by its `type` tag; client
    frames as `client.<type>`, server frames as `server.<type>` (or `stream.<type>`, event streams
    only). Only the user channel's controls between workers (BROKER_ONLY) never reach a client."""
    messages = DOCUMENT["components"]["messages"]
    by_struct = {message["x-struct"]: (key, message) for key, message in messages.items()}
    client = set(typing.get_args(protocol.ClientFrame))
    frames = tagged_structs(module)
    assert frames, module.__name__
    for frame in frames:
        if frame in asyncapi.BROKER_ONLY:
            assert struct_name(frame) not in by_struct
            continue
        assert struct_name(frame) in by_struct, f"{frame.__name__} is not in the AsyncAPI document"
        key, message = by_struct[struct_name(frame)]
        tag = frame.__struct_config__.tag
        assert message["name"] == tag
        assert key in ({f"client.{tag}"} if frame in client else {f"server.{tag}", f"stream.{tag}"})
        assert message["payload"] == {"$ref": f"#/components/schemas/{frame.__name__}"}
        schema = DOCUMENT["components"]["schemas"][frame.__name__]
        assert schema["properties"]["type"] == {"enum": [tag]}
        assert set(schema["properties"]) == {"type", *frame.__struct_fields__}


def test_the_broker_only_controls_are_what_the_user_channel_decodes() -> None:
    """The one documented exclusion: the frames app/ws/fanout.py reads from the user channel."""
    assert set(typing.get_args(fanout._control.type)) == set(asyncapi.BROKER_ONLY)


def test_every_message_is_on_a_channel_and_in_an_operation() -> None:
    messages = set(DOCUMENT["components"]["messages"])
    on_channels = {key for channel in DOCUMENT["channels"].values() for key in channel["messages"]}
    in_operations = {
        ref["$ref"].rsplit("/", 1)[1]
        for operation in DOCUMENT["operations"].values()
        for ref in operation["messages"]
    }
    assert messages == on_channels == in_operations
    for name in SOCKETS:
        keys = set(DOCUMENT["channels"][name]["messages"])
        assert keys == {key for key in messages if not key.startswith("stream.")}
    assert set(DOCUMENT["channels"]["events"]["messages"]) == {
        key for key in messages if not key.startswith("client.")
    }


def test_every_close_code_is_documented() -> None:
    members = {code.name: int(code) for code in CloseCode}
    assert set(members) == set(asyncapi.CLOSE_CODES)
    protocol_doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    closing = protocol_doc.split("## Closing", 1)[1]
    for name in SOCKETS:
        channel = DOCUMENT["channels"][name]
        listed = {(entry["name"], entry["code"]) for entry in channel["x-close-codes"]}
        assert listed == set(members.items())
        for code_name, code in members.items():
            assert re.search(rf"^\| {code} \| `{code_name}` \|", channel["description"], re.MULTILINE)
            assert f"| {code} |" in closing, f"{code} is not in docs/protocol.md's Closing table"


def test_subprotocols_and_the_seed_vocabulary() -> None:
    for name in SOCKETS:
        channel = DOCUMENT["channels"][name]
        assert channel["x-subprotocols"] == [*SUBPROTOCOLS, f"{BEARER_SUBPROTOCOL}<access token>"]
        for subprotocol in SUBPROTOCOLS:
            assert f"`{subprotocol}`" in channel["description"]
        header = channel["bindings"]["ws"]["headers"]["properties"]["Sec-WebSocket-Protocol"]
        assert all(subprotocol in header["description"] for subprotocol in SUBPROTOCOLS)
    group = DOCUMENT["channels"]["groupSocket"]
    assert group["x-seed-vocabulary"] == [
        "message",
        "add",
        "leave",
        "video_control",
        "error",
        "pong",
        "reset",
    ]
    seed = {
        key
        for key, message in DOCUMENT["components"]["messages"].items()
        if {"name": "seed"} in message.get("tags", [])
    }
    assert seed == {f"server.{tag}" for tag in group["x-seed-vocabulary"]}
    assert set(group["parameters"]) == {"group_id"}
    assert set(group["bindings"]["ws"]["query"]["properties"]) == {"ticket", "token", "last_seq", "events"}


def test_the_event_streams_close_event_conforms() -> None:
    chunk = closing_chunk(CloseCode.TRY_AGAIN_LATER, "too slow").decode()
    event, data = chunk.removesuffix("\n\n").split("\n")
    assert event == "event: close"
    frame = msgspec.json.decode(data.removeprefix("data: "))
    assert frame == {"type": "close", "code": 1013, "reason": "too slow"}
    assert FrameChecker(DOCUMENT).problems("stream", frame) == []


def test_datetimes_are_rfc_3339() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    assert schemas["ChatMessage"]["properties"]["created_at"] == {"type": "string", "format": "date-time"}
    edited = schemas["ChatMessage"]["properties"]["edited_at"]["anyOf"]
    assert {"type": "string", "format": "date-time"} in edited
    assert schemas["VideoInfo"]["properties"]["created_at"]["format"] == "date-time"  # nested in video_added


def test_the_committed_document_is_the_servers_own() -> None:
    committed = Path(__file__).resolve().parents[2] / "sdk" / "asyncapi.json"
    assert msgspec.json.decode(committed.read_bytes()) == msgspec.json.decode(asyncapi.encoded()[0]), (
        "sdk/asyncapi.json is stale: run `make openapi` and commit it"
    )
