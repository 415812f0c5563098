"""The test clients' frame check (tests/wsclient.py `checked`) refuses a frame that drifted."""

from __future__ import annotations

import msgspec
import pytest

from tests.wsclient import checked

PONG = {"type": "pong", "t": 1.5, "server_time": 2.0}


def test_a_declared_frame_passes_unchanged() -> None:
    assert checked(dict(PONG)) == PONG


@pytest.mark.parametrize(
    "drifted",
    [
        {"type": "pong", "t": 1.5},  # a field missing
        {"type": "pong", "t": "soon", "server_time": 2.0},  # a field of another type
        {"type": "no_such_frame"},  # a type nobody declared
    ],
)
def test_a_frame_off_its_shape_fails(drifted: dict[str, object]) -> None:
    with pytest.raises(msgspec.ValidationError):
        checked(drifted)


def test_an_undeclared_field_fails() -> None:
    with pytest.raises(AssertionError, match="undeclared"):
        checked(PONG | {"extra": 1})
