"""Everything a request handler needs, built once at start-up and kept on `app.state.ctx`."""

from __future__ import annotations

from dataclasses import dataclass

from databases import Database
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from provider.db.store import Store
from provider.mail.mailer import Mailer
from provider.mail.worker import DeliveryWorker
from provider.mfa.engine import MfaEngine
from provider.oauth.keys import KeyRing
from provider.oauth.server import ProviderAuthorizationServer
from provider.oauth.tokens import TokenMinter
from provider.security.secrets import SecretBox
from provider.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    database: Database
    store: Store
    box: SecretBox
    keys: KeyRing
    minter: TokenMinter
    oauth: ProviderAuthorizationServer
    templates: Jinja2Templates
    mfa: MfaEngine
    mail_worker: DeliveryWorker
    mailer: Mailer


def ctx(request: Request) -> AppContext:
    return request.app.state.ctx
