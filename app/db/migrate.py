"""Alembic, driven from code: `huddle migrate`, the embedded server's upgrade on start, and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "db" / "migrations"


SEARCH_OBJECTS = ("ix_messages_search", "messages_fts")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Hide the dialect-specific full-text search objects (made by hand in a migration) from
    autogenerate, which would otherwise want to drop them."""
    del obj, type_, reflected, compare_to
    return not (name or "").startswith(SEARCH_OBJECTS)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_table", "alembic_version")
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking: runs on its own event loop, so call it from a thread inside async code."""
    command.upgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str) -> None:
    """Autogenerate a new revision from the models (developer command: `make migration m=...`)."""
    command.revision(alembic_config(database_url), message=message, autogenerate=True)
