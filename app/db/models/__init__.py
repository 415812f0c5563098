"""Every SQL model, imported here so Alembic sees the whole schema through one metadata."""

from advanced_alchemy.base import metadata_registry

from app.db.models.accounts import AuthSession, User

metadata = metadata_registry.get(None)

__all__ = ["AuthSession", "User", "metadata"]
