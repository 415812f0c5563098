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
from app.db.models.messages import GroupSequence, MentionRow, MessageRow, ReactionRow
from app.db.models.notifications import GroupNotificationSettings, NotificationSettings, PushSubscription

metadata = metadata_registry.get(None)

__all__ = [
    "Attachment",
    "AuthSession",
    "Group",
    "GroupNotificationSettings",
    "GroupSequence",
    "Membership",
    "MentionRow",
    "MessageAttachment",
    "MessageRow",
    "NotificationSettings",
    "OidcIdentity",
    "PushSubscription",
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
