"""Request and response bodies for accounts and auth (seed-000 field names kept)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.db.models.accounts import EMAIL_MAX, NAME_MAX
from app.domain.accounts.passwords import PASSWORD_MAX, PASSWORD_MIN
from app.domain.patterns import EMAIL, URL, VISIBLE

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=EMAIL_MAX, pattern=EMAIL)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX, pattern=VISIBLE)]
Password = Annotated[str, msgspec.Meta(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]
# A login password is only compared, never stored: any length up to the cap is checked, not validated.
AnyPassword = Annotated[str, msgspec.Meta(max_length=PASSWORD_MAX)]
AvatarUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=URL)]
StatusMessage = Annotated[str, msgspec.Meta(max_length=200)]


class RegisterBody(msgspec.Struct):
    email: Email
    name: Name
    password: Password


class LoginBody(msgspec.Struct):
    email: Email
    password: AnyPassword


class TokenForm(msgspec.Struct):
    """OAuth2 password grant (`/token`, seed `/login`): the username is the email."""

    username: Annotated[str, msgspec.Meta(max_length=EMAIL_MAX)]
    password: AnyPassword


class RefreshBody(msgspec.Struct):
    refresh_token: Annotated[str, msgspec.Meta(max_length=4096)]


class PasswordChangeBody(msgspec.Struct):
    current_password: AnyPassword
    new_password: Password


class AccountDeleteBody(msgspec.Struct):
    password: AnyPassword


class ProfilePatch(msgspec.Struct, omit_defaults=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    display_name: Name | msgspec.UnsetType | None = msgspec.UNSET
    avatar_url: AvatarUrl | msgspec.UnsetType | None = msgspec.UNSET
    status_message: StatusMessage | msgspec.UnsetType | None = msgspec.UNSET


class UserOut(msgspec.Struct):
    """The signed-in user's own view."""

    id: int
    email: str
    name: str
    display_name: str | None
    avatar_url: str | None
    status_message: str | None
    is_active: bool
    created_at: dt.datetime


class StorageUsage(msgspec.Struct):
    """Bytes of the videos and attachments a user uploaded, and those reserved by their unfinished
    uploads, against STORAGE_QUOTA_BYTES."""

    used: int
    reserved: int
    quota: int


class MeOut(UserOut, kw_only=True):
    """`GET users/me`: the profile and the storage the user's attachments take."""

    storage: StorageUsage


class PublicUser(msgspec.Struct):
    """What anyone signed in may see of another user: no email, nothing private."""

    id: int
    name: str
    display_name: str | None
    avatar_url: str | None
    status_message: str | None


class BlockOut(msgspec.Struct):
    """Someone the caller blocked, and since when."""

    user: PublicUser
    blocked_at: dt.datetime


class UserPage(msgspec.Struct):
    items: list[PublicUser]
    limit: int
    offset: int
    next_offset: int | None


class TokenResponse(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    user: UserOut
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 -- the OAuth2 token type, not a secret


class VerifyTokenOut(msgspec.Struct):
    valid: bool
    user: UserOut


class TicketOut(msgspec.Struct):
    ticket: str
    expires_in: int
