"""Reading hosted-page form posts: size-limited, UTF-8, and CSRF-checked."""

from __future__ import annotations

from authlib.oauth2.base import OAuth2Error
from starlette.requests import Request

from provider.context import ctx
from provider.login.browser import Browser, csrf_ok
from provider.oauth.params import first_values, read_params


class FormRejected(Exception):
    """The form could not be read, or its CSRF token did not match this browser."""


async def read_form(request: Request, browser: Browser, form_name: str) -> dict[str, str]:
    app = ctx(request)
    try:
        values = first_values(await read_params(request, app.settings.max_body_bytes))
    except OAuth2Error as exc:
        raise FormRejected(str(exc.description)) from exc
    if not csrf_ok(app, browser, form_name, values.get("csrf")):
        raise FormRejected("This form has expired. Go back, reload the page and try again.")
    return values
