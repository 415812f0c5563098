"""Accounts: registration, sign-in sessions, token rotation, revocation, profiles, search."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass

import msgspec
from sqlalchemy import ColumnElement, bindparam, delete, exists, func, or_, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from app.db.engine import autocommit
from app.db.folding import Folded, fold_name
from app.db.models.accounts import EMAIL_MAX, AuthSession, OidcIdentity, User, UserBlock
from app.domain.accounts.oidc import EXCHANGE_SECONDS, IdClaims, OidcFailed, RelyingParty
from app.domain.accounts.passwords import NO_PASSWORD, has_password
from app.domain.accounts.schemas import (
    PasswordChangeBody,
    ProfilePatch,
    PublicUser,
    RegisterBody,
    TicketOut,
    TokenResponse,
    UserOut,
)
from app.domain.accounts.tokens import Claims
from app.domain.frames import SessionEnded
from app.domain.runtime import Runtime
from app.domain.uow import UnitOfWork
from app.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthorized

BAD_CREDENTIALS = "Incorrect email or password"
# The user's mapped attributes and their columns, and the one statement that authenticates a request.
_USER_COLUMNS = [(attribute.key, attribute.columns[0]) for attribute in sa_inspect(User).column_attrs]
PRINCIPAL = (
    select(*(column for _, column in _USER_COLUMNS), AuthSession.revoked_at)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(AuthSession.id == bindparam("sid"), User.id == bindparam("uid"))
)
USER_AGENT_MAX = 255


@dataclass(frozen=True, eq=False)
class Principal:
    """The authenticated caller: the user and the sign-in session the token belongs to."""

    user: User
    session_id: uuid.UUID

    @property
    def user_id(self) -> int:
        return self.user.id


def normalize_email(email: str) -> str:
    return email.strip().lower()


def user_out(user: User) -> UserOut:
    return msgspec.convert(user, UserOut, from_attributes=True)


def public_user(user: User) -> PublicUser:
    return msgspec.convert(user, PublicUser, from_attributes=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _like_prefix(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class AccountService:
    def __init__(self, db: AsyncSession, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime
        self.settings = runtime.settings
        self.uow = UnitOfWork(db, runtime.events)

    # -- rate limits -------------------------------------------------------------------------------

    async def _limit(self, *keys: str, limit: int, window: int) -> None:
        waits = [await self.runtime.state.hit(key, limit, window) for key in keys]
        if max(waits, default=0):
            raise RateLimited(max(waits))

    async def limit_login(self, email: str, client: str) -> None:
        """Before a password check. Attempts count per client address; failures (`login_failed`) per
        email and address, so wrong passwords from elsewhere never lock the owner out. Past the
        email's looser ceiling, only an address with no recent failure of its own may try."""
        s, state = self.settings, self.runtime.state
        await self._limit(
            f"login:client:{client}", limit=s.login_rate_limit, window=s.login_rate_window_seconds
        )
        mine, mine_wait = await state.peek(f"login:failed:{email}:{client}")
        if mine >= s.login_rate_limit:
            raise RateLimited(mine_wait)
        if mine:
            everyone, everyone_wait = await state.peek(f"login:failed:{email}")
            if everyone >= s.login_email_failure_limit:
                raise RateLimited(min(mine_wait, everyone_wait))

    async def limit_provider_sign_in(self, client: str) -> None:
        """Before a callback calls the provider's token endpoint: sign-in attempts per client address
        (the same budget as password sign-ins), so Huddle cannot be made to hammer the provider."""
        s = self.settings
        await self._limit(
            f"login:client:{client}", limit=s.login_rate_limit, window=s.login_rate_window_seconds
        )

    async def login_failed(self, email: str, client: str) -> None:
        window = self.settings.login_rate_window_seconds
        for key in (f"login:failed:{email}:{client}", f"login:failed:{email}"):
            await self.runtime.state.hit(key, 0, window)  # counted only: the next limit_login judges

    # -- sessions and tokens -----------------------------------------------------------------------

    async def _start_session(self, user: User, user_agent: str | None) -> TokenResponse:
        session = AuthSession(
            user_id=user.id,
            refresh_jti=uuid.uuid4().hex,
            expires_at=_now() + dt.timedelta(days=self.settings.refresh_token_expire_days),
            user_agent=(user_agent or "")[:USER_AGENT_MAX] or None,
        )
        self.db.add(session)
        await self.db.flush()
        response = self._tokens(user, session.id, session.refresh_jti)
        await self.db.commit()
        return response

    def _tokens(self, user: User, session_id: uuid.UUID, refresh_jti: str) -> TokenResponse:
        tokens = self.runtime.tokens
        access = tokens.issue("access", user.id, session_id)
        refresh = tokens.issue("refresh", user.id, session_id, jti=refresh_jti)
        return TokenResponse(
            access_token=access.token,
            refresh_token=refresh.token,
            expires_in=access.expires_in,
            refresh_expires_in=refresh.expires_in,
            user=user_out(user),
        )

    async def _principal(self, claims: Claims) -> Principal:
        """The user behind a verified token, if the session is live and the account active.

        Every authenticated request asks this, so it is one statement on an autocommit connection
        (a query in the request's session cost BEGIN and COMMIT round trips as well), and the row
        joins the session as a loaded `User` without another query (`merge(load=False)`): services
        that change the user flush it like any other."""
        async with autocommit(self.runtime.engine) as connection:
            row = (
                await connection.execute(PRINCIPAL, {"sid": uuid.UUID(claims.sid), "uid": claims.user_id})
            ).first()
        if row is None or row.revoked_at is not None:
            raise Unauthorized("Token has been revoked")
        if not row.is_active:
            raise Unauthorized("Account is deactivated")
        user = User(**{key: row._mapping[column] for key, column in _USER_COLUMNS})
        make_transient_to_detached(user)
        return Principal(await self.db.merge(user, load=False), uuid.UUID(claims.sid))

    async def authenticate(self, access_token: str) -> Principal:
        return await self._principal(self.runtime.tokens.decode(access_token, "access"))

    async def register(self, body: RegisterBody, user_agent: str | None, client: str) -> TokenResponse:
        s = self.settings
        await self._limit(
            f"register:client:{client}", limit=s.login_rate_limit, window=s.login_rate_window_seconds
        )
        if not s.allow_password_signup:
            raise Forbidden("Accounts are created by signing in with an identity provider here")
        email = normalize_email(body.email)
        if await self.db.scalar(select(User.id).where(User.email == email)) is not None:
            raise Conflict("Email already registered")
        user = User(
            email=email,
            name=body.name.strip(),
            password_hash=await self.runtime.passwords.hash(body.password),
        )
        self.db.add(user)
        try:
            await self.db.flush()
        except IntegrityError:
            await self.db.rollback()
            raise Conflict("Email already registered") from None
        return await self._start_session(user, user_agent)

    async def login(self, email: str, password: str, user_agent: str | None, client: str) -> TokenResponse:
        email = normalize_email(email)
        await self.limit_login(email, client)
        user = await self.db.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
        ok = await self.runtime.passwords.verify(password, user.password_hash if user else None)
        if user is None or not ok:
            await self.login_failed(email, client)
            raise Unauthorized(BAD_CREDENTIALS)
        return await self._start_session(user, user_agent)

    async def refresh(self, refresh_token: str) -> TokenResponse:
        """Rotate: the presented token must be the family's current one. Presenting an older one
        means it leaked, so the whole family (session) is revoked."""
        claims = self.runtime.tokens.decode(refresh_token, "refresh")
        session_id = uuid.UUID(claims.sid)
        new_jti = uuid.uuid4().hex
        rotated = await self.db.execute(
            update(AuthSession)
            .where(
                AuthSession.id == session_id,
                AuthSession.user_id == claims.user_id,
                AuthSession.refresh_jti == claims.jti,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > _now(),
            )
            .values(
                refresh_jti=new_jti,
                expires_at=_now() + dt.timedelta(days=self.settings.refresh_token_expire_days),
            )
            .execution_options(synchronize_session=False)
        )
        if rotated.rowcount != 1:  # type: ignore[attr-defined]
            await self._revoke(AuthSession.id == session_id, reason="refresh_reuse")
            # The token leaked: whoever holds the session's sockets must lose them too.
            self._end_sockets(claims.user_id, "refresh token reused", session_id=str(session_id))
            await self.uow.commit()
            raise Unauthorized("Refresh token is no longer valid; sign in again")
        user = await self.db.get(User, claims.user_id)
        if user is None or not user.is_active:
            await self.db.rollback()
            raise Unauthorized("Account is deactivated")
        await self.db.commit()
        return self._tokens(user, session_id, new_jti)

    async def _revoke(self, *where: object, reason: str) -> None:
        await self.db.execute(
            update(AuthSession)
            .where(AuthSession.revoked_at.is_(None), *where)  # type: ignore[arg-type]
            .values(revoked_at=_now(), revoked_reason=reason)
            .execution_options(synchronize_session=False)
        )

    async def logout(self, principal: Principal) -> None:
        await self._revoke(AuthSession.id == principal.session_id, reason="logout")
        self._end_sockets(principal.user_id, "logout", session_id=str(principal.session_id))
        await self.uow.commit()

    def _end_sockets(
        self, user_id: int, reason: str, *, session_id: str | None = None, keep_session: str | None = None
    ) -> None:
        """Close the user's open WebSockets on every worker once the revocation commits: it reaches
        live sockets too."""
        self.uow.to_user(
            user_id,
            SessionEnded(user_id=user_id, reason=reason, session_id=session_id, keep_session=keep_session),
        )

    async def ended_sessions(self, session_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these sessions are over (revoked, expired or gone): their sockets must close even
        when the broadcast that should have closed them was lost."""
        live = await self.db.scalars(
            select(AuthSession.id).where(
                AuthSession.id.in_(session_ids),
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > _now(),
            )
        )
        return set(session_ids) - set(live)

    async def issue_ticket(self, principal: Principal) -> TicketOut:
        ticket = self.runtime.tokens.issue("ticket", principal.user_id, principal.session_id)
        return TicketOut(ticket=ticket.token, expires_in=ticket.expires_in)

    async def redeem_ticket(self, ticket: str) -> Principal:
        claims = self.runtime.tokens.decode(ticket, "ticket")
        ttl = self.settings.ws_ticket_expire_seconds * 2  # outlives the token, leeway included
        if not await self.runtime.state.claim(f"ticket:{claims.jti}", ttl):
            raise Unauthorized("Ticket has already been used")
        return await self._principal(claims)

    # -- account management ------------------------------------------------------------------------

    async def _check_password(self, principal: Principal, password: str, client: str) -> None:
        if not has_password(principal.user.password_hash):
            return  # an identity provider's account has no password to confirm until one is set
        await self.limit_login(principal.user.email, client)
        if not await self.runtime.passwords.verify(password, principal.user.password_hash):
            await self.login_failed(principal.user.email, client)
            raise Unauthorized("Current password is incorrect")

    async def change_password(self, principal: Principal, body: PasswordChangeBody, client: str) -> None:
        """Set a new password and end every other session of the user."""
        await self._check_password(principal, body.current_password, client)
        principal.user.password_hash = await self.runtime.passwords.hash(body.new_password)
        await self._revoke(
            AuthSession.user_id == principal.user_id,
            AuthSession.id != principal.session_id,
            reason="password_change",
        )
        self._end_sockets(principal.user_id, "password changed", keep_session=str(principal.session_id))
        await self.uow.commit()

    async def delete_account(self, principal: Principal, password: str, client: str) -> None:
        """Deactivate: the account keeps its messages' authorship, frees its email, and every one of
        its tokens stops working."""
        await self._check_password(principal, password, client)
        user = principal.user
        email = user.email
        user.is_active = False
        user.deleted_at = _now()
        user.email = f"deleted+{user.id}@deleted.invalid"
        user.avatar_url = user.status_message = None
        # Its identity providers are freed like its email: signing in there again makes a new account.
        await self.db.execute(delete(OidcIdentity).where(OidcIdentity.user_id == user.id))
        await self._revoke(AuthSession.user_id == user.id, reason="account_deleted")
        self._end_sockets(user.id, "account deleted")
        self.uow.access_changed()
        await self.uow.commit()
        # The email is free to register again: seed frames name authors by email, so the old
        # messages must not seem to be the newcomer's.
        await self.runtime.messages.forget_email(user.id, email, user.email)

    async def update_profile(self, principal: Principal, patch: ProfilePatch) -> User:
        user = principal.user
        for field in patch.__struct_fields__:
            value = getattr(patch, field)
            if value is not msgspec.UNSET:
                setattr(user, field, value.strip() if isinstance(value, str) else value)
        await self.db.commit()
        return user

    async def get_user(self, user_id: int, *, viewer_id: int) -> User:
        """A user's public profile: to someone they blocked, they are not found (as nobody at all)."""
        user = await self.db.get(User, user_id)
        if user is None or not user.is_active or await self._blocked_by(user_id, viewer_id):
            raise NotFound("User not found")
        return user

    async def _blocked_by(self, blocker_id: int, blocked_id: int) -> bool:
        return await self.db.get(UserBlock, (blocker_id, blocked_id)) is not None

    async def search(self, principal: Principal, query: str, limit: int, offset: int) -> list[User]:
        """The start of any word of the name or display name, ignoring case and accents; or a whole
        email address (any case) when the query has an '@': a prefix would let anyone who knows a
        name read the address letter by letter. Those who blocked the caller are left out."""
        s = self.settings
        await self._limit(
            f"search:user:{principal.user_id}", limit=s.search_rate_limit, window=s.search_rate_window_seconds
        )
        words = (fold_name(query) or "").strip()
        matches: list[ColumnElement[bool]] = []
        if words:  # the start of any word of the name or display name: "cole" finds "Bob Cole-Baker"
            pattern = "% " + _like_prefix(words)
            matches += [
                Folded(User.name).like(pattern, escape="\\"),
                Folded(User.display_name).like(pattern, escape="\\"),
            ]
        if "@" in query:
            matches.append(User.email == normalize_email(query))
        if not matches:
            return []
        rows = await self.db.scalars(
            select(User)
            .where(
                User.is_active.is_(True),
                or_(*matches),
                ~exists().where(UserBlock.blocker_id == User.id, UserBlock.blocked_id == principal.user_id),
            )
            .order_by(func.lower(User.name), User.id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows)

    # -- identity providers (OpenID Connect) -------------------------------------------------------

    async def oidc_identity(self, party: RelyingParty, claims: IdClaims, link_user: int | None) -> User:
        """The user a verified ID token signs in (or, with `link_user`, links to).

        - A linked identity (issuer + `sub`) signs its user in, whatever the email says now.
        - Linking from a signed-in session attaches the identity to that user, unless another
          account holds it already.
        - Otherwise a new account is made, only from an email the provider says is verified, and
          never for an email an account already has: its owner must sign in (with the password) and
          link the provider from their profile, so nobody takes an account over by an email claim.
        """
        issuer = party.provider.issuer
        linked = await self.db.scalar(
            select(OidcIdentity).where(OidcIdentity.issuer == issuer, OidcIdentity.subject == claims.sub)
        )
        if link_user is not None:
            user = await self.db.get(User, link_user)
            if user is None or not user.is_active:
                raise OidcFailed("inactive", "This account is deactivated", status_code=403)
            if linked is not None and linked.user_id != user.id:
                raise OidcFailed(
                    "identity_taken",
                    f"This {party.name} account is linked to another Huddle account",
                    status_code=409,
                )
            if linked is None:
                await self._link(user, party, claims)
            return user
        if linked is not None:
            user = await self.db.get(User, linked.user_id)
            if user is None or not user.is_active:
                raise OidcFailed("inactive", "This account is deactivated", status_code=403)
            return user
        email = claims.verified_email
        if email is None:
            raise OidcFailed(
                "unverified_email",
                f"{party.name} did not confirm that this email address is yours; verify it there first",
                status_code=403,
            )
        if await self.db.scalar(select(User.id).where(User.email == email)) is not None:
            raise OidcFailed(
                "link_required",
                f"An account with this email exists: sign in with its password, then link {party.name} "
                "from your profile",
                status_code=409,
            )
        user = User(email=email, name=claims.display_name or email, password_hash=NO_PASSWORD)
        self.db.add(user)
        try:
            await self.db.flush()
        except IntegrityError:  # the same email, registered at the same moment
            await self.db.rollback()
            raise OidcFailed("conflict", "This account was just created; sign in again", 409) from None
        await self._link(user, party, claims)
        return user

    async def _link(self, user: User, party: RelyingParty, claims: IdClaims) -> None:
        email = claims.email.strip().lower() if claims.email else None
        self.db.add(
            OidcIdentity(
                user_id=user.id,
                provider=party.provider.key,
                issuer=party.provider.issuer,
                subject=claims.sub,
                email=email if email and len(email) <= EMAIL_MAX else None,
            )
        )
        try:
            await self.db.flush()
        except IntegrityError:  # linked at the same moment by another request
            await self.db.rollback()
            raise OidcFailed(
                "identity_taken", f"This {party.name} account is already linked to a Huddle account", 409
            ) from None
        await self.db.commit()

    def exchange_code(self, user: User) -> str:
        """The one-time code the callback hands the SPA (in the URL fragment, never sent to a server)
        for a session: the tokens themselves never appear in a URL."""
        return self.runtime.oidc.codec.seal(
            "oidc_exchange", {"sub": str(user.id), "jti": uuid.uuid4().hex}, EXCHANGE_SECONDS
        )

    async def oidc_exchange(self, code: str, user_agent: str | None) -> TokenResponse:
        """Swap the callback's one-time code for a session, exactly like a password sign-in."""
        try:
            claims = self.runtime.oidc.codec.open("oidc_exchange", code)
        except OidcFailed:
            raise Unauthorized("The sign-in code is invalid or expired; sign in again") from None
        jti, sub = claims.get("jti"), claims.get("sub")
        if not isinstance(jti, str) or not isinstance(sub, str) or not sub.isdigit():
            raise Unauthorized("The sign-in code is invalid or expired; sign in again")
        if not await self.runtime.state.claim(f"oidc:exchange:{jti}", EXCHANGE_SECONDS * 2):
            raise Unauthorized("The sign-in code has already been used; sign in again")
        user = await self.db.get(User, int(sub))
        if user is None or not user.is_active:
            raise Unauthorized("Account is deactivated")
        return await self._start_session(user, user_agent)

    async def identities(self, principal: Principal) -> list[OidcIdentity]:
        rows = await self.db.scalars(
            select(OidcIdentity).where(OidcIdentity.user_id == principal.user_id).order_by(OidcIdentity.id)
        )
        return list(rows)

    async def unlink(self, principal: Principal, identity_id: int) -> None:
        """Remove a linked identity, unless it is the account's last way in (no password)."""
        mine = await self.identities(principal)
        identity = next((row for row in mine if row.id == identity_id), None)
        if identity is None:
            raise NotFound("No such linked identity")
        if len(mine) == 1 and not has_password(principal.user.password_hash):
            raise Conflict("This is the account's only way to sign in: set a password first")
        await self.db.delete(identity)
        await self.db.commit()

    async def provision(self, email: str, name: str, password_hash: str, user_agent: str) -> TokenResponse:
        """An operator's account (`huddle users create`): created, or its password reset when it
        exists, and signed in, with no HTTP request, so no registration or sign-in limit applies."""
        email = normalize_email(email)
        user = await self.db.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
        if user is None:
            user = User(email=email, name=name, password_hash=password_hash)
            self.db.add(user)
            await self.db.flush()
        else:
            user.password_hash = password_hash
        return await self._start_session(user, user_agent)
