"""ASGI entry point for Granian (`--factory app.server.asgi:app`): each worker reads the environment."""

from __future__ import annotations

from litestar import Litestar

from app.config import load_settings
from app.server.app import create_app
from app.server.collector import tune_garbage_collector


def app() -> Litestar:
    built = create_app(load_settings())
    tune_garbage_collector()  # a serving worker only: the tests build apps in one long process
    return built
