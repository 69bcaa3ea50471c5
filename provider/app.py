"""create_app(settings) -> the Starlette application: routes, middleware and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from provider import demo
from provider.admin import admin_routes
from provider.bootstrap import ensure_demo
from provider.context import AppContext
from provider.db.database import close_database, open_database
from provider.db.errors import UNAVAILABLE
from provider.db.migrate import upgrade_async
from provider.db.store import Store
from provider.federation import pages as federation
from provider.login import logout, mfa_pages, pages, verify_email
from provider.mail import dev_mailbox
from provider.mail.mailer import Mailer
from provider.mail.worker import DeliveryWorker
from provider.management.api.routes import management_routes
from provider.mfa.engine import MfaEngine
from provider.mfa.registry import build_registry
from provider.mfa_api import endpoints as mfa_api
from provider.oauth import authorize, discovery, endpoints, userinfo
from provider.oauth.keys import KeyRing
from provider.oauth.server import ProviderAuthorizationServer
from provider.oauth.tokens import TokenMinter
from provider.security.headers import SecurityHeaders
from provider.security.secrets import SecretBox
from provider.settings import Settings

log = logging.getLogger("provider")
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
KEY_RELOAD_SECONDS = 30


async def health(request: Request) -> Response:
    await request.app.state.ctx.database.fetch_val("SELECT 1")
    return JSONResponse({"status": "ok"})


async def not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    if status == 405:
        return JSONResponse(
            {"error": "invalid_request", "error_description": "Method not allowed."}, 405
        )
    return JSONResponse({"error": "not_found", "error_description": "No such endpoint."}, status)


async def server_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, UNAVAILABLE):
        # A database restart or outage: say so, and that retrying is right (RFC 6749 §4.1.2.1).
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {
                "error": "temporarily_unavailable",
                "error_description": "The service is briefly unavailable. Try again shortly.",
            },
            503,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, asyncpg.exceptions.CharacterNotInRepertoireError):
        # A NUL (or other text PostgreSQL cannot store) that no check caught: the request's
        # fault, said in the OAuth error shape rather than as a server error.
        return JSONResponse(
            {"error": "invalid_request", "error_description": "The request contains NUL."}, 400
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"error": "server_error", "error_description": "The server could not answer."}, 500
    )


def _routes(settings: Settings) -> list[Route | Mount]:
    routes: list[Route | Mount] = [
        Route("/healthz", health),
        Route("/.well-known/openid-configuration", discovery.openid_configuration),
        Route("/.well-known/jwks.json", discovery.jwks),
        Route("/authorize", authorize.authorize, methods=["GET", "POST"]),
        Route("/authorize/resume", authorize.resume),
        Route("/oauth/token", endpoints.token, methods=["POST"]),
        Route("/oauth/revoke", endpoints.revoke, methods=["POST"]),
        Route("/oauth/introspect", endpoints.introspect, methods=["POST"]),
        Route("/userinfo", userinfo.userinfo, methods=["GET", "POST"]),
        Route("/oidc/logout", logout.logout, methods=["GET", "POST"]),
        Route("/v2/logout", logout.logout, methods=["GET", "POST"]),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login_submit, methods=["POST"]),
        Route("/login/connection", federation.start, methods=["POST"]),
        Route("/login/callback", federation.callback, methods=["GET"]),
        Route("/consent", pages.consent_form, methods=["GET"]),
        Route("/consent", pages.consent_submit, methods=["POST"]),
        Route("/account", pages.account),
        Route("/account/recovery-code", pages.regenerate_recovery_code, methods=["POST"]),
        Route("/account/verify-email", verify_email.send_from_account, methods=["POST"]),
        Route("/account/email-mfa", pages.add_email_authenticator, methods=["POST"]),
        Route("/verify-email", verify_email.confirm_page, methods=["GET"]),
        Route("/verify-email", verify_email.confirm, methods=["POST"]),
        Route("/mfa/authenticators", mfa_api.list_authenticators, methods=["GET"]),
        Route(
            "/mfa/authenticators/{authenticator_id}",
            mfa_api.delete_authenticator,
            methods=["DELETE"],
        ),
        Route("/mfa/associate", mfa_api.associate, methods=["POST"]),
        Route("/mfa/challenge", mfa_api.challenge, methods=["POST"]),
        Route("/mfa", mfa_pages.challenge_page, methods=["GET"]),
        Route("/mfa/verify", mfa_pages.verify, methods=["POST"]),
        Route("/mfa/methods", mfa_pages.methods_page, methods=["GET"]),
        Route("/mfa/select", mfa_pages.select, methods=["POST"]),
        Route("/mfa/enroll", mfa_pages.enroll_page, methods=["GET"]),
        Route("/mfa/enroll", mfa_pages.enroll_start, methods=["POST"]),
        Route("/mfa/enroll/confirm", mfa_pages.enroll_confirm, methods=["POST"]),
        Route("/mfa/continue", mfa_pages.continue_login, methods=["POST"]),
        Mount("/static", StaticFiles(directory=TEMPLATES_DIR / "static"), name="static"),
        *management_routes(),
        *admin_routes(),
    ]
    if not settings.smtp and settings.is_loopback:
        # Messages hold codes: the test mailbox is only served on a loopback issuer.
        routes.append(Route("/dev/mail", dev_mailbox.mailbox))
    if settings.demo:
        routes += [Route("/demo", demo.start), Route("/demo/callback", demo.callback)]
    return routes


async def build_context(settings: Settings, *, migrate: bool) -> AppContext:
    settings.prepare_data_dir()
    box = SecretBox(settings.resolved_secret_key())
    if migrate:
        await upgrade_async(settings.effective_database_url)
    database = await open_database(settings.effective_database_url)
    store = Store(database, box)
    keys = KeyRing(store, box, settings.issuer)
    await keys.load(alg=settings.signing_alg, max_token_ttl=_max_token_ttl(settings))
    minter = TokenMinter(keys, settings.issuer, settings.access_token_ttl)
    server = ProviderAuthorizationServer(settings, store, box, keys, minter)
    templates = Jinja2Templates(
        env=jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True)
    )
    worker = DeliveryWorker(store, settings)
    mailer = Mailer(store, settings, worker)
    engine = MfaEngine(
        build_registry(settings.extra.get("mfa", {})), store, box, settings, mailer=mailer
    )
    return AppContext(
        settings, database, store, box, keys, minter, server, templates, engine, worker, mailer
    )


def _max_token_ttl(settings: Settings) -> int:
    return max(settings.access_token_ttl, settings.id_token_ttl)


async def _reload_keys(context: AppContext) -> None:
    """Pick up keys rotated by another process (CLI or replica)."""
    while True:
        await asyncio.sleep(KEY_RELOAD_SECONDS)
        try:
            await context.keys.load(
                alg=context.settings.signing_alg, max_token_ttl=_max_token_ttl(context.settings)
            )
        except Exception:  # noqa: BLE001 - a database blip must not end the loop
            log.warning("could not reload signing keys; will retry", exc_info=True)


def create_app(settings: Settings, *, migrate: bool = True) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        context = await build_context(settings, migrate=migrate)
        app.state.ctx = context
        if settings.demo and await ensure_demo(context.store, settings):
            log.info("created the demo user and client (see README)")
        reloader = asyncio.create_task(_reload_keys(context))
        context.mail_worker.start()
        try:
            yield
        finally:
            reloader.cancel()
            await context.mail_worker.stop()
            await close_database(context.database)

    return Starlette(
        routes=_routes(settings),
        middleware=[Middleware(SecurityHeaders, hsts=settings.issuer.startswith("https://"))],
        exception_handlers={HTTPException: not_found, Exception: server_error},
        lifespan=lifespan,
    )
