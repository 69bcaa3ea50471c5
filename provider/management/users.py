"""Users as operators manage them: search, create, change, block, delete, and their MFA
(authenticators, reset, recovery code) and email verification."""

from __future__ import annotations

from typing import Any

from provider.db.records import User
from provider.db.roles import ADMIN
from provider.db.store import Store
from provider.db.users import EmailTaken
from provider.mail.mailer import Mailer
from provider.mail.verification import send_verification
from provider.management.errors import Conflict, NotFound, OperationError
from provider.mfa.api import Authenticator
from provider.mfa.engine import MfaEngine, user_view
from provider.security.passwords import hash_password, password_problem
from provider.settings import Settings

USER_FIELDS = ("email", "email_verified", "name", "blocked", "password")


def check_email(email: Any) -> str:
    if (
        not isinstance(email, str)
        or "@" not in email
        or len(email) > 320
        or any(c.isspace() or ord(c) < 32 for c in email)
    ):
        raise OperationError("not an email address")
    return email.strip()


class UserOperations:
    def __init__(self, store: Store, engine: MfaEngine, settings: Settings, mailer: Mailer):
        self.store = store
        self.engine = engine
        self.settings = settings
        self.mailer = mailer

    async def get(self, user_id: str) -> User:
        user = (
            await self.store.users.get(user_id)
            if "\x00" not in user_id and len(user_id) <= 100
            else None
        )
        if user is None:
            raise NotFound("no such user")
        return user

    async def search(self, query: str | None, page: int, per_page: int) -> tuple[list[User], int]:
        query = (query or "").replace("\x00", "").strip()[:320] or None  # PostgreSQL refuses NUL
        found = await self.store.users.search(query, per_page, page * per_page)
        return found, await self.store.users.count(query)

    async def create(
        self,
        email: str,
        password: str | None,
        actor: str,
        *,
        name: str | None = None,
        email_verified: bool = False,
    ) -> User:
        email = check_email(email)
        if password is not None and (problem := password_problem(password)):
            raise OperationError(problem)
        if name is not None and len(name) > 200:
            raise OperationError("name: at most 200 characters")
        try:
            user = await self.store.users.create(
                email,
                await hash_password(password) if password else None,
                email_verified=email_verified,
                name=name,
            )
        except EmailTaken as exc:
            raise Conflict("a user with this email already exists") from exc
        await self.store.audit.record(actor, "user.create", user.id, {"email": user.email})
        return user

    async def update(self, user_id: str, changes: dict[str, Any], actor: str) -> User:
        user = await self.get(user_id)
        unknown = set(changes) - set(USER_FIELDS)
        if unknown:
            raise OperationError(f"unknown field(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        if "email" in changes and check_email(changes["email"]).lower() != user.email:
            try:
                await self.store.users.change_email(user.id, check_email(changes["email"]))
            except EmailTaken as exc:
                raise Conflict("a user with this email already exists") from exc
        for flag in ("email_verified", "blocked"):
            if flag in changes:
                if not isinstance(changes[flag], bool):
                    raise OperationError(f"{flag}: must be true or false")
                values[flag] = changes[flag]
        if "name" in changes:
            if changes["name"] is not None and (
                not isinstance(changes["name"], str) or len(changes["name"]) > 200
            ):
                raise OperationError("name: a string of at most 200 characters")
            values["name"] = changes["name"]
        if "password" in changes:
            password = changes["password"]
            if not isinstance(password, str) or (problem := password_problem(password)):
                raise OperationError(problem if isinstance(password, str) else "password: a string")
            values["password_hash"] = await hash_password(password)
        updated = await self.store.users.update(user.id, **values)
        assert updated is not None
        if values.get("blocked") or "password_hash" in values:
            # A blocked user, or one whose password changed, keeps no sessions or tokens.
            await self.store.sessions.end_all_for_user(user.id)
            await self.store.tokens.revoke_user_grants(user.id, "user_changed")
        details = {"fields": sorted(changes)}
        await self.store.audit.record(actor, "user.update", user.id, details)
        return updated

    async def delete(self, user_id: str, actor: str) -> None:
        user = await self.get(user_id)
        await self.store.users.delete(user.id)
        await self.store.audit.record(actor, "user.delete", user.id, {"email": user.email})

    async def authenticators(self, user_id: str) -> list[Authenticator]:
        user = await self.get(user_id)
        return [a for _, a in await self.engine.listed(user)]

    async def reset_mfa(self, user_id: str, actor: str) -> None:
        """Remove every authenticator and lift an MFA lock (a lost device)."""
        user = await self.get(user_id)
        await self.store.authenticators.delete_for_user(user.id)
        await self.store.mfa.reset_failures(user.id)
        await self.store.rate_limits.reset(f"mfa:failures:{user.id}")
        await self.store.audit.record(actor, "user.mfa_reset", user.id)

    async def delete_authenticator(self, user_id: str, authenticator_id: str, actor: str) -> None:
        user = await self.get(user_id)
        found = {a.id: (f, a) for f, a in await self.engine.listed(user)}
        if authenticator_id not in found:
            raise NotFound("no such authenticator")
        factor, authenticator = found[authenticator_id]
        if authenticator.implicit:
            raise OperationError("a verified email cannot be removed as an authenticator")
        await factor.context.authenticators.delete(authenticator_id)
        await self.store.audit.record(
            actor, "user.authenticator_delete", user.id, {"authenticator_id": authenticator_id}
        )

    async def regenerate_recovery_code(self, user_id: str, actor: str) -> str:
        user = await self.get(user_id)
        factor = self.engine.factor("recovery-code")
        if factor is None or "recovery-code" not in await self.engine.enabled_ids():
            raise OperationError("the recovery-code factor is not enabled")
        codes = await factor.provision(user_view(user))
        await self.store.audit.record(actor, "user.recovery_code_regenerate", user.id)
        return codes[0]

    async def send_verification_email(self, user_id: str, actor: str) -> str:
        user = await self.get(user_id)
        if user.email_verified:
            raise OperationError("the email is already verified")
        message_id = await send_verification(self.settings, self.store.box, self.mailer, user)
        await self.store.audit.record(actor, "user.verification_email", user.id)
        return message_id

    async def set_admin(self, user_id: str, admin: bool, actor: str) -> None:
        user = await self.get(user_id)
        if admin:
            await self.store.roles.grant(user.id, ADMIN)
        else:
            await self.store.roles.revoke(user.id, ADMIN)
        action = "user.grant_admin" if admin else "user.revoke_admin"
        await self.store.audit.record(actor, action, user.id)
