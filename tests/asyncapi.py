"""The AsyncAPI document's checks, shared by the unit and integration tests: the official AsyncAPI
3.0.0 JSON Schema (npm `@asyncapi/specs`, installed into ./node_modules by `npm ci` from the
committed package-lock.json, so no network at test time) and validators for frames.

A missing node_modules skips the tests that need the official schema, or fails them under
HUDDLE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs

from tests.services import unavailable

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"


def asyncapi_validator() -> Any:
    """The official AsyncAPI 3.0.0 schema (draft-07; its definitions carry their own `$id`s)."""
    if not SPEC.exists():
        unavailable(f"{SPEC} is missing: run `npm ci`")
    return jsonschema_rs.validator_for(json.loads(SPEC.read_text()))


def errors(validator: Any, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.instance_path))}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


class FrameChecker:
    """Checks frames against the document's messages: the payload schema, and no field it does not
    declare (the generated schemas allow unknown fields, so that is checked here)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.messages: dict[str, Any] = document["components"]["messages"]
        self._validators: dict[str, Any] = {}

    def payload(self, key: str) -> dict[str, Any]:
        name = self.messages[key]["payload"]["$ref"].rsplit("/", 1)[1]
        schema: dict[str, Any] = self.document["components"]["schemas"][name]
        return schema

    def problems(self, side: str, frame: dict[str, Any]) -> list[str]:
        key = f"{side}.{frame.get('type')}"
        if key not in self.messages:
            return [f"{key} is not a message of the document"]
        if key not in self._validators:
            root = {"allOf": [self.messages[key]["payload"]], "components": self.document["components"]}
            self._validators[key] = jsonschema_rs.validator_for(root, validate_formats=True)
        found = errors(self._validators[key], frame)
        undeclared = set(frame) - set(self.payload(key).get("properties", {}))
        if undeclared:
            found.append(f"{key}: fields the document does not declare: {sorted(undeclared)}")
        return found
