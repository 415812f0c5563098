"""Field errors a person can read: msgspec says "Expected `str` matching regex '^[^@...'"; people
(and the browser app, which shows `message` as it is) get "Email must be an email address, like
name@example.com." The machine's wording stays in each error's `reason`."""

from __future__ import annotations

import re
from typing import Any

_LABELS = {"email": "Email", "text": "Message", "display_name": "Display name", "avatar_url": "Avatar URL"}
_PATTERNS = {
    "email": "must be an email address, like name@example.com",
    "avatar_url": "must be a web address starting with https://",
    "name": "must contain a visible character",
    "display_name": "must contain a visible character",
}
_KINDS = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true or false"}
_KINDS |= {"array": "a list", "object": "an object"}


def _label(key: str) -> str:
    field = key.rsplit(".", 1)[-1].strip("[]`'\" ") or "This field"
    return _LABELS.get(field, field.replace("_", " ").capitalize())


_BOUNDS = [
    (r"length >= (\d+)", "must be at least {} characters"),
    (r"length <= (\d+)", "must be at most {} characters"),
    (r"`(?:int|float)` >= (-?[\d.]+)", "must be at least {}"),
    (r"`(?:int|float)` <= (-?[\d.]+)", "must be at most {}"),
]


def _phrase(field: str, reason: str) -> str:
    for pattern, phrase in _BOUNDS:
        if match := re.search(pattern, reason):
            return phrase.format(match[1]).replace("at least 1 characters", "at least 1 character")
    if "matching regex" in reason:
        return _PATTERNS.get(field, "is not in a form we accept")
    if "missing required field" in reason:
        return "is required"
    if "Invalid enum value" in reason:
        return "is not one of the allowed values"
    kind = re.search(r"Expected `(\w+)`", reason)
    return f"must be {_KINDS[kind[1]]}" if kind and kind[1] in _KINDS else "is not valid"


def humanize(errors: Any) -> Any:
    """Each `{"key", "message"}` field error gets a sentence as its message; anything else is kept."""
    if not isinstance(errors, list):
        return errors
    readable = []
    for error in errors:
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            readable.append(error)
            continue
        reason = error["message"]
        key = str(error.get("key") or "")
        if missing := re.search(r"missing required field `([^`]+)`", reason):
            key = missing[1]  # msgspec names the object ("data"), not the field
        field = key.rsplit(".", 1)[-1]
        message = f"{_label(key)} {_phrase(field, reason)}." if key else "The request is not valid."
        readable.append(error | {"key": key or error.get("key"), "message": message, "reason": reason})
    return readable
