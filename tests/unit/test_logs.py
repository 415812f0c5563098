"""Redaction: no token, ticket, signature, bearer credential or password survives into a log line."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from app.observability import context
from app.observability.logs import REDACTED, configure_logging, json_formatter, redact_text

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"/ws/group/3?token={JWT}", f"/ws/group/3?token={REDACTED}"),
        ("a=1&ticket=abc&sig=def&b=2", f"a=1&ticket={REDACTED}&sig={REDACTED}&b=2"),
        ("ACCESS_TOKEN=x y", f"ACCESS_TOKEN={REDACTED} y"),
        (f"Authorization: Bearer {JWT}", f"Authorization: Bearer {REDACTED}"),
        (f"sent {JWT} somewhere", f"sent {REDACTED} somewhere"),
        ("client_msg_id=abc&limit=5", "client_msg_id=abc&limit=5"),
        ("nothing to see", "nothing to see"),
        (  # a SAS URL (STREAM_OFFLOAD=azure-redirect), should one ever reach a log line
            "https://a.blob.core.windows.net/videos/v/1?se=2026-12-05T21%3A21%3A08Z&sp=r&sr=b&sig=h4j%2B0%3D",
            f"https://a.blob.core.windows.net/videos/v/1?se=2026-12-05T21%3A21%3A08Z&sp=r&sr=b&sig={REDACTED}",
        ),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_structlog_and_stdlib_lines_are_json_with_the_request_context() -> None:
    configure_logging("INFO")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    logging.getLogger().addHandler(handler)
    _, token = context.enter("req-1")
    try:
        context.bind_user(42)
        structlog.get_logger("huddle.unit").info("signed in", password="hunter22", user_email="a@b.co")
        logging.getLogger("huddle.unit").warning("retrying %s", f"?token={JWT}")
    finally:
        context.leave(token)
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "signed in"
    assert first["password"] == REDACTED
    assert (first["request_id"], first["user_id"], first["level"]) == ("req-1", 42, "info")
    assert second["event"] == f"retrying ?token={REDACTED}"
    assert (second["request_id"], second["logger"], second["level"]) == ("req-1", "huddle.unit", "warning")
    assert "hunter22" not in stream.getvalue()
    assert JWT not in stream.getvalue()
