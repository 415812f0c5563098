"""Structured JSON logs: one line per event on stderr, for structlog and stdlib loggers alike.

`configure_logging` is called by `create_app` in each worker; Granian's own lines use the same
formatter through `granian_log_config`. Secrets never reach the output: values of sensitive keys and
`token=`/`ticket=`/`sig=` query values, bearer credentials and JWTs inside any text are redacted.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from app.observability.context import add_request_context

REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "current_password",
        "new_password",
        "token",
        "access_token",
        "refresh_token",
        "ticket",
        "sig",
        "authorization",
        "cookie",
        "secret",
        "secret_key",
        "metrics_token",
    }
)
SENSITIVE_QUERY = ("token", "access_token", "refresh_token", "ticket", "sig", "password")
_QUERY_SECRET = re.compile(r"(?i)\b(" + "|".join(SENSITIVE_QUERY) + r")=[^&\s\"'#]*")
_BEARER = re.compile(r"(?i)\b(bearer)[ .]+[\w.~+/=-]+")
_JWT = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
_HANDLER_MARK = "_huddle_handler"


def redact_text(text: str) -> str:
    if "=" not in text and "eyJ" not in text and "earer" not in text:
        return text  # the common case: nothing that could hold a secret
    text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _JWT.sub(REDACTED, text)


def redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """structlog processor: the last line of defence, whatever a caller passed in."""
    for key, value in event.items():
        if key.lower() in SENSITIVE_KEYS:
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        add_request_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]


def json_formatter() -> logging.Formatter:
    """The formatter of every handler: stdlib records and structlog events become one JSON line."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(),
        ],
    )


def configure_logging(level: str) -> None:
    """Idempotent: replaces the handler a previous call installed (tests build many apps)."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter())
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("azure").setLevel(logging.WARNING)  # the Azure SDK logs every HTTP request at INFO


def granian_log_config() -> dict[str, Any]:
    """Granian's `log_dictconfig`: its server lines (workers spawned, stopping...) as JSON too."""
    json_format = {"()": "app.observability.logs.json_formatter"}
    stream = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "json"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": json_format, "generic": json_format, "access": json_format},
        "handlers": {"console": stream, "access": stream},
    }
