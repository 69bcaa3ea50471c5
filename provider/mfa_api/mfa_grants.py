"""Auth0's MFA grants at /oauth/token: mfa-otp, mfa-oob and mfa-recovery-code.

Each turns into calls of the MFA engine on the transaction the mfa_token names, so the
per-challenge limit, the per-user failure bucket and the lock are the hosted pages' own: a
bucket drained here is drained there. A success spends the mfa_token and issues the tokens
the password grant asked for.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from provider.context import AppContext
from provider.db.mfa import MfaTransaction
from provider.db.records import User
from provider.mfa.api import Authenticator
from provider.mfa.engine import MFA_ACR, Outcome
from provider.mfa_api.errors import NO_STORE, ApiError, error
from provider.mfa_api.issue import issue_tokens
from provider.mfa_api.mfa_token import resolve_mfa_token
from provider.mfa_api.oob_codes import read_oob_code
from provider.mfa_api.password_grant import PASSWORD
from provider.oauth.models import OAuthClient

MFA_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
MFA_OOB = "http://auth0.com/oauth/grant-type/mfa-oob"
MFA_RECOVERY_CODE = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
MFA_GRANTS = (MFA_OTP, MFA_OOB, MFA_RECOVERY_CODE)


def _refusal(outcome: Outcome, wrong: str) -> ApiError:
    """The error-table row for a refused answer; `wrong` is the grant's "invalid code" row."""
    return error(
        {
            "invalid": wrong,
            "code_expired": "oob_code_expired",
            "throttled": "too_many_codes",
            "burned": "too_many_codes",
            "locked": "mfa_locked",
            "expired": "mfa_token_expired",
        }.get(outcome.reason, wrong)
    )


async def _pending_enrollment(app: AppContext, tx: MfaTransaction, kind: str) -> str | None:
    """The transaction's own pending enrollment of this authenticator type, if it has one."""
    if not tx.challenge or not tx.challenge.get("enrollment") or not tx.authenticator_id:
        return None
    factor = app.mfa.factor(tx.challenge.get("factor", ""))
    return tx.authenticator_id if factor and factor.authenticator_type == kind else None


async def _usable_of_type(app: AppContext, user: User, kind: str) -> Authenticator | None:
    usable = [(f, a) for f, a in await app.mfa.usable(user) if a.authenticator_type == kind]
    if not usable:
        return None
    return (await app.mfa.choose(user, usable))[1]


async def _answer_otp(app: AppContext, tx: MfaTransaction, user: User, otp: str) -> Outcome:
    if await _pending_enrollment(app, tx, "otp"):
        return await app.mfa.confirm_enrollment(tx.id, user, otp)
    authenticator = await _usable_of_type(app, user, "otp")
    if authenticator is not None:
        await app.mfa.select(tx.id, user, authenticator)
        return await app.mfa.verify(tx.id, user, otp)
    # Enrolled through /mfa/associate with an access token: the first right code confirms it.
    pending = await app.mfa.pending_of_type(user, "otp")
    if pending and await app.mfa.adopt_enrollment(tx.id, user, pending):
        return await app.mfa.confirm_enrollment(tx.id, user, otp)
    raise error("wrong_otp")


async def _answer_oob(
    app: AppContext, tx: MfaTransaction, user: User, oob_code: str, binding_code: str
) -> Outcome:
    code = read_oob_code(app.box, oob_code)
    if code.user_id != user.id:
        raise error("wrong_oob_code")
    if code.tx_id is not None:  # a challenge: only on the transaction it was made for
        if code.tx_id != tx.id or tx.authenticator_id != code.authenticator_id:
            raise error("wrong_oob_code")
        return await app.mfa.verify(tx.id, user, binding_code)
    # An enrollment (/mfa/associate): confirmed by its code on this user's transaction.
    if tx.authenticator_id != code.authenticator_id and not await app.mfa.adopt_enrollment(
        tx.id, user, code.authenticator_id
    ):
        raise error("wrong_oob_code")
    return await app.mfa.confirm_enrollment(tx.id, user, binding_code)


async def _answer_recovery_code(
    app: AppContext, tx: MfaTransaction, user: User, recovery_code: str
) -> Outcome:
    authenticator = await _usable_of_type(app, user, "recovery-code")
    if authenticator is None:
        raise error("wrong_recovery_code")
    await app.mfa.select(tx.id, user, authenticator)
    return await app.mfa.verify(tx.id, user, recovery_code)


async def mfa_grant(app: AppContext, client: OAuthClient, values: dict[str, str]) -> Response:
    # MFA grants finish what the password grant started, so they come with it.
    if not client.check_grant_type(PASSWORD):
        raise error("grant_not_allowed")
    grant_type = values["grant_type"]
    if grant_type == MFA_OTP and not values.get("otp"):
        raise error("missing_otp")
    if grant_type == MFA_OOB and not (values.get("oob_code") and values.get("binding_code")):
        raise error("missing_oob")
    if grant_type == MFA_RECOVERY_CODE and not values.get("recovery_code"):
        raise error("missing_recovery_code")
    tx, user = await resolve_mfa_token(
        app.store, app.box, values.get("mfa_token"), client.client_id
    )

    if grant_type == MFA_OTP:
        outcome, wrong = await _answer_otp(app, tx, user, values["otp"]), "wrong_otp"
    elif grant_type == MFA_OOB:
        outcome = await _answer_oob(app, tx, user, values["oob_code"], values["binding_code"])
        wrong = "wrong_binding_code"
    else:
        outcome = await _answer_recovery_code(app, tx, user, values["recovery_code"])
        wrong = "wrong_recovery_code"
    if not outcome.accepted:
        raise _refusal(outcome, wrong)

    tokens = await issue_tokens(
        app,
        client,
        user,
        scope=tx.scope or "",
        audience=tx.audience,
        amr=["pwd", *outcome.amr],
        acr=MFA_ACR,
    )
    if grant_type == MFA_RECOVERY_CODE and outcome.secrets:
        tokens["recovery_code"] = outcome.secrets[0]  # the used code is gone: here is the next
    return JSONResponse(tokens, headers=NO_STORE)
