"""Every SQL model, imported here so Alembic sees the whole schema through one metadata."""

from advanced_alchemy.base import metadata_registry

from app.db.models.accounts import AuthSession, OidcIdentity, User, UserBlock
from app.db.models.groups import Group, Membership
from app.db.models.media import (
    Attachment,
    MessageAttachment,
    Rendition,
    Subtitle,
    UploadChunk,
    UploadSession,
    Video,
    VideoJob,
)
from app.db.models.messages import GroupSequence, MessageRow, ReactionRow

metadata = metadata_registry.get(None)

__all__ = [
    "Attachment",
    "AuthSession",
    "Group",
    "GroupSequence",
    "Membership",
    "MessageAttachment",
    "MessageRow",
    "OidcIdentity",
    "ReactionRow",
    "Rendition",
    "Subtitle",
    "UploadChunk",
    "UploadSession",
    "User",
    "UserBlock",
    "Video",
    "VideoJob",
    "metadata",
]
