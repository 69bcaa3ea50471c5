"""The MFA engine: one chain of factor plugins behind both front doors (the hosted pages now, the
MFA API later). Endpoints translate HTTP into these calls; no factor logic lives in endpoints.

It decides whether a second factor is required (policy, per-client override, step-up through
`acr_values`), lists what a user can answer with, and wraps every check of a response in the
throttles of docs/security.md: attempts per challenge, a per-user failure bucket that a new
challenge never refills, and a lock after a long streak of failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provider.db.factor_codes import FactorCodeStorage
from provider.db.records import ClientRecord, User
from provider.db.store import Store
from provider.mail.mailer import Mailer
from provider.mfa.api import (
    Authenticator,
    Challenge,
    Enrollment,
    EnrollmentError,
    Factor,
    FactorConfigError,
    UserView,
)
from provider.mfa.context import NamespacedLimiter, PluginContext, PluginMail
from provider.mfa.registry import FactorRegistry
from provider.security.secrets import SecretBox
from provider.settings import Settings

MFA_ACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
POLICIES = ("never", "always")
POLICY_KEY = "mfa.policy"
ENABLED_KEY = "mfa.factor.{}.enabled"
SETTINGS_KEY = "mfa.factor.{}.settings"  # operators' overrides of [mfa.factors.<id>] settings


@dataclass(frozen=True)
class MfaLimits:
    attempts_per_challenge: int = 5
    failure_burst: int = 10  # the per-user bucket: 10 failures …
    failure_interval_ms: int = 6 * 60_000  # … then one more every 6 minutes
    failure_ceiling: int = 100  # consecutive failures before the user's MFA locks
    lock_seconds: int = 3600
    transaction_ttl: int = 15 * 60


MESSAGES = {
    "locked": "Too many failed attempts: multi-factor authentication is locked for this "
    "account. Try again later or contact support.",
    "throttled": "Too many failed codes. Wait for some minutes before retrying.",
    "burned": "Too many wrong answers to this challenge. Request a new code or try another method.",
    "expired": "This sign-in has expired. Return to the application and sign in again.",
}


class ToggleRefused(ValueError):
    """Turning a factor on or off would break the dependent-factor rule; says why."""


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    reason: str = "ok"  # ok | invalid | code_expired | locked | throttled | burned | expired
    message: str | None = None
    amr: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # shown to the user once


def asks_for_mfa(acr_values: str | None) -> bool:
    return bool(acr_values) and MFA_ACR in str(acr_values).split()


def challenge_record(factor: Factor, challenge: Challenge) -> dict[str, Any]:
    """What a page needs to show a challenge again (kept on the MFA transaction)."""
    return {
        "factor": factor.id,
        "authenticator_id": challenge.authenticator_id,
        "resendable": factor.authenticator_type == "oob",
        "prompt": challenge.prompt,
        "input_label": challenge.input_label,
        "input_mode": challenge.input_mode,
        "details": dict(challenge.details),
    }


def can_stand_alone(factor: Factor) -> bool:
    """Independent factors, and dependent ones the operator set `standalone = true` for."""
    return factor.independent or bool(factor.context.settings.get("standalone"))


def user_view(user: User) -> UserView:
    return UserView(
        id=user.id, email=user.email, email_verified=user.email_verified, name=user.name
    )


class MfaEngine:
    def __init__(
        self,
        registry: FactorRegistry,
        store: Store,
        box: SecretBox,
        settings: Settings,
        limits: MfaLimits | None = None,
        mailer: Mailer | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.limits = limits or MfaLimits()
        self._factors: dict[str, Factor] = {}
        self._overrides: dict[str, dict[str, Any]] = {}
        mail = PluginMail(mailer or Mailer(store, settings, None), store.outbox)
        for info in registry:
            context = PluginContext(
                factor_id=info.id,
                settings=info.settings,
                issuer=settings.issuer,
                service_name=settings.service_name,
                authenticators=store.authenticators.for_factor(info.id),
                limiter=NamespacedLimiter(store.rate_limits, info.id),
                codes=FactorCodeStorage(store.database, info.id),
                mail=mail,
                _box=box,
            )
            self._factors[info.id] = info.factor_class(context)

    def factor(self, factor_id: str) -> Factor | None:
        return self._factors.get(factor_id)

    # -- operator switches -------------------------------------------------------------------
    async def enabled_ids(self) -> list[str]:
        toggles = await self.store.runtime.all("mfa.factor.")
        self._apply_settings(toggles)
        return [
            info.id
            for info in self.registry
            if toggles.get(ENABLED_KEY.format(info.id), info.enabled_by_config)
        ]

    def _apply_settings(self, toggles: dict[str, Any]) -> None:
        """Give each factor its configured settings with the operators' overrides on top (read
        with the toggles on every decision, so every replica follows a change)."""
        for info in self.registry:
            override = toggles.get(SETTINGS_KEY.format(info.id)) or {}
            if self._overrides.get(info.id) == override:
                continue
            try:
                merged = info.factor_class.validate_settings({**info.settings, **override})
            except FactorConfigError:
                merged = info.settings  # checked when saved; never let a bad row stop sign-ins
            self._factors[info.id].context.settings = merged
            self._overrides[info.id] = override

    async def factor_settings(self, factor_id: str) -> dict[str, Any]:
        await self.enabled_ids()
        return dict(self._factors[factor_id].context.settings)

    async def set_factor_settings(self, factor_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Override some of a factor's settings at run time; validated by the factor itself."""
        info = next((i for i in self.registry if i.id == factor_id), None)
        if info is None:
            raise ToggleRefused(f"no installed factor has the id {factor_id!r}")
        if "enabled" in values:
            raise ToggleRefused("use the factor's toggle to enable or disable it")
        override = {
            **(await self.store.runtime.get(SETTINGS_KEY.format(factor_id)) or {}),
            **values,
        }
        try:
            merged = info.factor_class.validate_settings({**info.settings, **override})
        except FactorConfigError as exc:
            raise ToggleRefused(f"{factor_id}: {exc}") from exc
        await self.store.runtime.set(SETTINGS_KEY.format(factor_id), override)
        return dict(merged)

    async def set_enabled(self, factor_id: str, enabled: bool) -> None:
        """Toggle a factor, keeping the rule: a dependent factor is on only while an
        independent one is."""
        factor = self._factors.get(factor_id)
        if factor is None:
            raise ToggleRefused(f"no installed factor has the id {factor_id!r}")
        after = set(await self.enabled_ids())
        (after.add if enabled else after.discard)(factor_id)
        on = [self._factors[i] for i in after]
        if any(not f.independent for f in on) and not any(f.independent for f in on):
            if enabled:
                raise ToggleRefused(
                    f"{factor_id} can only be enabled while an independent factor (such as otp) "
                    "is enabled"
                )
            dependents = ", ".join(sorted(f.id for f in on if not f.independent))
            raise ToggleRefused(
                f"{factor_id} is the last independent factor and {dependents} depends on it; "
                "disable that first"
            )
        await self.store.runtime.set(ENABLED_KEY.format(factor_id), enabled)

    async def policy(self) -> str:
        return str(await self.store.runtime.get(POLICY_KEY, "never"))

    async def set_policy(self, policy: str) -> None:
        if policy not in POLICIES:
            raise ToggleRefused(f"the MFA policy must be one of {', '.join(POLICIES)}")
        await self.store.runtime.set(POLICY_KEY, policy)

    # -- deciding ----------------------------------------------------------------------------
    async def required(self, client: ClientRecord, acr_values: str | None) -> bool:
        if asks_for_mfa(acr_values):
            return True  # step-up: the application asks for it
        policy = client.mfa_policy or await self.policy()
        return policy == "always" and bool(await self.enabled_ids())

    async def usable(self, user: User) -> list[tuple[Factor, Authenticator]]:
        """What the user can answer with, in preference order. Empty unless at least one
        belongs to an independent factor: dependent factors never stand alone."""
        view = user_view(user)
        found: list[tuple[Factor, Authenticator]] = []
        for factor_id in await self.enabled_ids():
            factor = self._factors[factor_id]
            for authenticator in await factor.list_authenticators(view):
                if authenticator.active:
                    found.append((factor, authenticator))
        if not any(can_stand_alone(factor) for factor, _ in found):
            return []
        return found

    async def choose(
        self, user: User, usable: list[tuple[Factor, Authenticator]], wanted: str | None = None
    ) -> tuple[Factor, Authenticator]:
        """The authenticator to challenge: the one asked for, else the last used, else the
        first independent one in configured order."""
        by_id = {a.id: (f, a) for f, a in usable}
        if wanted and wanted in by_id:
            return by_id[wanted]
        preferred = await self.store.mfa.preferred(user.id)
        if preferred and preferred in by_id:
            return by_id[preferred]
        return next(((f, a) for f, a in usable if can_stand_alone(f)), usable[0])

    async def enrollable(self) -> list[Factor]:
        return [
            self._factors[i]
            for i in await self.enabled_ids()
            if self._factors[i].independent and self._factors[i].enrollable
        ]

    # -- challenging and checking ------------------------------------------------------------
    async def challenge(
        self, tx_id: str, user: User, factor: Factor, authenticator: Authenticator
    ) -> Challenge:
        challenge = await factor.challenge(user_view(user), authenticator, tx_id)
        await self.store.mfa.set_challenge(
            tx_id,
            authenticator.id,
            challenge_record(factor, challenge),
            # A factor that sent nothing new (a resend within its cooldown) keeps the count of
            # answers, or "resend" would reset the per-challenge limit.
            reset_attempts=challenge.details.get("sent", True) is not False,
        )
        return challenge

    async def verify(self, tx_id: str, user: User, response: str) -> Outcome:
        tx = await self.store.mfa.get_live(tx_id)
        if tx is None or tx.user_id != user.id or not tx.authenticator_id or not tx.challenge:
            return Outcome(False, "expired", MESSAGES["expired"])
        factor = self._factors.get(tx.challenge.get("factor", ""))
        usable = {a.id: (f, a) for f, a in await self.usable(user)}
        if factor is None or tx.authenticator_id not in usable:
            return Outcome(False, "expired", MESSAGES["expired"])
        authenticator = usable[tx.authenticator_id][1]
        outcome = await self._guarded(
            tx_id,
            user,
            factor,
            lambda: factor.verify(user_view(user), authenticator, tx_id, response),
        )
        if outcome.accepted:
            await self.store.mfa.set_preferred(user.id, authenticator.id)
            await self.store.authenticators.touch(authenticator.id)
        return outcome

    async def begin_enrollment(self, tx_id: str, user: User, factor_id: str) -> Enrollment:
        factor = self._factors.get(factor_id)
        if factor is None or factor not in await self.enrollable():
            raise EnrollmentError("This method cannot be enrolled.")
        enrollment = await factor.begin_enrollment(user_view(user))
        await self.store.mfa.set_challenge(
            tx_id,
            enrollment.authenticator_id,
            {
                "factor": factor.id,
                "enrollment": True,
                "instructions": enrollment.instructions,
                "input_label": enrollment.input_label,
                "input_mode": enrollment.input_mode,
            },
        )
        return enrollment

    async def begin_address_enrollment(self, tx_id: str, user: User, address: str) -> str:
        """Add an extra address to the `email` factor, which sends the address a code; the
        answer goes to `confirm_enrollment` like any enrollment. (Auth0's MFA API enrolls
        addresses the same way through /mfa/associate.)"""
        factor = self._factors.get("email")
        enroll = getattr(factor, "begin_address_enrollment", None)
        if factor is None or enroll is None or "email" not in await self.enabled_ids():
            raise EnrollmentError("Sign-in codes by email are turned off.")
        pending: str = await enroll(user_view(user), address)
        await self.store.mfa.set_challenge(
            tx_id,
            pending,
            {
                "factor": factor.id,
                "enrollment": True,
                "instructions": "Enter the 6-digit code we sent to the new address.",
                "input_label": "Code",
                "input_mode": "numeric",
            },
        )
        return pending

    async def confirm_enrollment(self, tx_id: str, user: User, response: str) -> Outcome:
        tx = await self.store.mfa.get_live(tx_id)
        if (
            tx is None
            or tx.user_id != user.id
            or not tx.challenge
            or not tx.challenge.get("enrollment")
            or not tx.authenticator_id
        ):
            return Outcome(False, "expired", MESSAGES["expired"])
        factor = self._factors[tx.challenge["factor"]]
        pending_id = tx.authenticator_id
        first = await self.store.authenticators.count_confirmed(user.id) == 0
        outcome = await self._guarded(
            tx_id,
            user,
            factor,
            lambda: factor.confirm_enrollment(user_view(user), pending_id, response),
        )
        if not outcome.accepted:
            return outcome
        await self.store.mfa.set_preferred(user.id, pending_id)
        provisioned: list[str] = []
        if first:
            for factor_id in await self.enabled_ids():
                provisioned += await self._factors[factor_id].provision(user_view(user))
        return Outcome(True, amr=outcome.amr, secrets=provisioned + outcome.secrets)

    # -- what the MFA API adds ------------------------------------------------------------------
    async def requirements(self, user: User) -> dict[str, list[dict[str, str]]]:
        """Auth0's `mfa_requirements`: the kinds the user can be challenged with, or, with
        none, the kinds they may enroll (never a dependent factor such as email)."""
        usable = await self.usable(user)
        if usable:
            kinds = dict.fromkeys(factor.id for factor, _ in usable)
            return {"challenge": [{"type": kind} for kind in kinds]}
        return {"enroll": [{"type": factor.id} for factor in await self.enrollable()]}

    async def listed(self, user: User) -> list[tuple[Factor, Authenticator]]:
        """Every authenticator of an enabled factor, pending enrollments as inactive."""
        view, found = user_view(user), []
        for factor_id in await self.enabled_ids():
            factor = self._factors[factor_id]
            found += [(factor, a) for a in await factor.list_authenticators(view)]
            for row in await factor.context.authenticators.list(user.id, confirmed_only=False):
                if not row.confirmed:
                    pending = Authenticator(
                        id=row.id,
                        factor_id=factor.id,
                        authenticator_type=factor.authenticator_type,
                        name=row.name,
                        active=False,
                        oob_channel=factor.oob_channel,
                    )
                    found.append((factor, pending))
        return found

    async def has_independent(self, user: User) -> bool:
        """Whether the user is enrolled: something that can stand alone (Auth0's "active
        authenticator" for the purpose of /mfa/associate)."""
        return bool(await self.usable(user))

    async def provision_for_first(self, user: User) -> list[str]:
        """Recovery codes handed out with a user's first enrollment through the MFA API,
        before it is confirmed (as Auth0's /mfa/associate does). Re-running it replaces them."""
        if await self.has_independent(user):
            return []
        secrets: list[str] = []
        for factor_id in await self.enabled_ids():
            secrets += await self._factors[factor_id].provision(user_view(user))
        return secrets

    async def begin_pending_enrollment(self, user: User, factor_id: str) -> Enrollment:
        """An enrollment not tied to a transaction (/mfa/associate with an access token); it
        is confirmed later through `adopt_enrollment` on the next MFA transaction."""
        factor = self._factors.get(factor_id)
        if factor is None or factor not in await self.enrollable():
            raise EnrollmentError("This method cannot be enrolled.")
        return await factor.begin_enrollment(user_view(user))

    async def begin_pending_address(self, user: User, address: str) -> str:
        factor = self._factors.get("email")
        enroll = getattr(factor, "begin_address_enrollment", None)
        if factor is None or enroll is None or "email" not in await self.enabled_ids():
            raise EnrollmentError("Sign-in codes by email are turned off.")
        pending: str = await enroll(user_view(user), address)
        return pending

    async def adopt_enrollment(self, tx_id: str, user: User, pending_id: str) -> bool:
        """Make a pending enrollment of this user the transaction's current challenge, so
        `confirm_enrollment` can confirm it. False if it is not pending for this user."""
        for factor_id in await self.enabled_ids():
            factor = self._factors[factor_id]
            row = await factor.context.authenticators.get(pending_id)
            if row is not None:
                break
        else:
            return False
        if row.user_id != user.id or row.confirmed:
            return False
        tx = await self.store.mfa.get_live(tx_id)
        if tx is None:
            return False
        if tx.authenticator_id != pending_id:
            await self.store.mfa.set_challenge(
                tx_id, pending_id, {"factor": factor.id, "enrollment": True}
            )
        return True

    async def pending_of_type(self, user: User, authenticator_type: str) -> str | None:
        """The newest pending enrollment of an enabled factor of this type, if any."""
        newest: tuple[int, str] | None = None
        for factor_id in await self.enabled_ids():
            factor = self._factors[factor_id]
            if factor.authenticator_type != authenticator_type:
                continue
            for row in await factor.context.authenticators.list(user.id, confirmed_only=False):
                if not row.confirmed and (newest is None or row.created_at >= newest[0]):
                    newest = (row.created_at, row.id)
        return newest[1] if newest else None

    async def select(self, tx_id: str, user: User, authenticator: Authenticator) -> None:
        """Make `authenticator` the transaction's challenge without sending anything (codes
        the user already has: TOTP, recovery codes). Keeps the attempt count if unchanged."""
        tx = await self.store.mfa.get_live(tx_id)
        factor = self._factors.get(authenticator.factor_id)
        if tx is None or factor is None or tx.authenticator_id == authenticator.id:
            return
        challenge = await factor.challenge(user_view(user), authenticator, tx_id)
        await self.store.mfa.set_challenge(
            tx_id, authenticator.id, challenge_record(factor, challenge)
        )

    async def _guarded(self, tx_id: str, user: User, factor: Factor, check) -> Outcome:  # type: ignore[no-untyped-def]
        limits, mfa = self.limits, self.store.mfa
        if await mfa.locked_until(user.id):
            return Outcome(False, "locked", MESSAGES["locked"])
        bucket = f"mfa:failures:{user.id}"
        # Charged before checking, so parallel guesses cannot overdraw it; a right answer
        # empties it again. A new challenge never refills it.
        if not await self.store.rate_limits.charge(
            bucket, limits.failure_burst, limits.failure_interval_ms
        ):
            return Outcome(False, "throttled", MESSAGES["throttled"])
        if not await mfa.add_attempt(tx_id, limits.attempts_per_challenge):
            return Outcome(False, "burned", MESSAGES["burned"])
        try:
            verdict = await check()
        except EnrollmentError as exc:
            return Outcome(False, "invalid", str(exc))
        if not verdict.accepted:
            await mfa.record_failure(user.id, limits.failure_ceiling, limits.lock_seconds)
            reason = "code_expired" if verdict.expired else "invalid"
            return Outcome(False, reason, verdict.message or "The code you entered is invalid.")
        amr = ["mfa", *factor.amr]
        if not await mfa.complete(tx_id, amr):
            return Outcome(False, "expired", MESSAGES["expired"])
        await self.store.rate_limits.reset(bucket)
        await mfa.reset_failures(user.id)
        return Outcome(True, amr=amr, secrets=[verdict.new_secret] if verdict.new_secret else [])
