"""Who is signed in, and how: what the authorization endpoint hands to Authlib as the user."""

from __future__ import annotations

from dataclasses import dataclass

from provider.db.records import Session, User


@dataclass(frozen=True)
class LoginState:
    user: User
    auth_time: int
    amr: list[str]
    acr: str | None
    session_id: str | None

    @property
    def id(self) -> str:
        return self.user.id

    @classmethod
    def from_session(cls, user: User, session: Session) -> LoginState:
        return cls(user, session.auth_time, session.amr, session.acr, session.id)
