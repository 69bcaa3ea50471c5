"""The admin dashboard under /admin: server-rendered pages over the management operations."""

from __future__ import annotations

from starlette.routing import Route

from provider.admin import (
    activity_page,
    applications_page,
    auth,
    connections_page,
    email_pages,
    mfa_page,
    users_page,
)

GET, POST = ["GET"], ["POST"]


def admin_routes() -> list[Route]:
    return [
        Route("/admin", auth.home, methods=GET),
        Route("/admin/login", auth.login, methods=GET),
        Route("/admin/callback", auth.callback, methods=GET),
        Route("/admin/logout", auth.logout, methods=POST),
        # Security
        Route("/admin/mfa", mfa_page.page, methods=GET),
        Route("/admin/mfa/policy", mfa_page.policy, methods=POST),
        Route("/admin/mfa/factors/{name}", mfa_page.toggle, methods=POST),
        Route("/admin/mfa/factors/{name}/settings", mfa_page.settings, methods=POST),
        # Branding
        Route("/admin/email", email_pages.provider_page, methods=GET),
        Route("/admin/email", email_pages.save_provider, methods=POST),
        Route("/admin/email/test", email_pages.test_message, methods=POST),
        Route("/admin/email/check", email_pages.check_provider, methods=POST),
        Route("/admin/email/delete", email_pages.delete_provider, methods=POST),
        Route("/admin/templates", email_pages.templates_page, methods=GET),
        Route("/admin/templates/{name}", email_pages.template_page, methods=GET),
        Route("/admin/templates/{name}", email_pages.save_template, methods=POST),
        Route("/admin/templates/{name}/reset", email_pages.reset_template, methods=POST),
        # Users
        Route("/admin/users", users_page.users, methods=GET),
        Route("/admin/users/{user_id}", users_page.user, methods=GET),
        Route("/admin/users/{user_id}/{action}", users_page.action, methods=POST),
        # Applications
        Route("/admin/applications", applications_page.applications, methods=GET),
        Route("/admin/applications/new", applications_page.new, methods=GET),
        Route("/admin/applications/new", applications_page.create, methods=POST),
        Route("/admin/applications/{client_id}", applications_page.edit, methods=GET),
        Route("/admin/applications/{client_id}", applications_page.update, methods=POST),
        Route("/admin/applications/{client_id}/rotate", applications_page.rotate, methods=POST),
        Route("/admin/applications/{client_id}/delete", applications_page.delete, methods=POST),
        # Connections
        Route("/admin/connections", connections_page.connections, methods=GET),
        Route("/admin/connections/new", connections_page.new, methods=GET),
        Route("/admin/connections/new", connections_page.create, methods=POST),
        Route("/admin/connections/{id}", connections_page.edit, methods=GET),
        Route("/admin/connections/{id}", connections_page.update, methods=POST),
        Route("/admin/connections/{id}/delete", connections_page.delete, methods=POST),
        # Activity
        Route("/admin/activity", activity_page.activity, methods=GET),
    ]
