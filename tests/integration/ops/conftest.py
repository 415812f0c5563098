"""Capture the app's log output exactly as production writes it (the same JSON formatter)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from app.observability.logs import json_formatter


class LogCapture:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self, **match: Any) -> list[dict[str, Any]]:
        records = [json.loads(line) for line in self.text.splitlines() if line.strip()]
        return [r for r in records if all(r.get(key) == value for key, value in match.items())]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    handler = logging.StreamHandler(capture.stream)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield capture
    finally:
        root.removeHandler(handler)
