"""ASGI entry point for Granian (`--factory app.server.asgi:app`): each worker reads the environment."""

from __future__ import annotations

from litestar import Litestar

from app.config import load_settings
from app.server.app import create_app


def app() -> Litestar:
    return create_app(load_settings())
