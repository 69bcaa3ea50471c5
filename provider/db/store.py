"""The store: the one object through which the rest of provider reaches the database."""

from __future__ import annotations

from databases import Database

from provider.db.audit import AuditStore
from provider.db.authenticators import AuthenticatorStore
from provider.db.clients import ClientStore
from provider.db.connections import ConnectionStore
from provider.db.federation_states import FederationStateStore
from provider.db.identities import IdentityStore
from provider.db.keys import KeyStore
from provider.db.mfa import MfaStore
from provider.db.outbox import OutboxStore
from provider.db.rate_limits import RateLimitStore
from provider.db.roles import RoleStore
from provider.db.runtime_settings import RuntimeSettingsStore
from provider.db.sessions import SessionStore
from provider.db.tokens import TokenStore
from provider.db.used_links import UsedLinkStore
from provider.db.users import UserStore
from provider.security.secrets import SecretBox


class Store:
    def __init__(self, database: Database, box: SecretBox) -> None:
        self.database = database
        self.box = box  # for stores of sealed runtime settings (the email provider)
        self.users = UserStore(database)
        self.clients = ClientStore(database, box)
        self.keys = KeyStore(database)
        self.sessions = SessionStore(database)
        self.tokens = TokenStore(database)
        self.rate_limits = RateLimitStore(database)
        self.authenticators = AuthenticatorStore(database, box)
        self.mfa = MfaStore(database)
        self.runtime = RuntimeSettingsStore(database)
        self.outbox = OutboxStore(database)
        self.used_links = UsedLinkStore(database)
        self.roles = RoleStore(database)
        self.audit = AuditStore(database)
        self.connections = ConnectionStore(database, box)
        self.identities = IdentityStore(database)
        self.federation_states = FederationStateStore(database)
