"""Security › Multi-factor Auth: factor toggles (with the dependent-factor rule the engine
enforces for every front door), per-factor settings, and the MFA policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provider.db.store import Store
from provider.management.errors import NotFound, OperationError
from provider.mfa.engine import MfaEngine, ToggleRefused, can_stand_alone


@dataclass(frozen=True)
class FactorState:
    name: str
    display_name: str
    enabled: bool
    independent: bool
    standalone: bool
    settings: dict[str, Any]
    # Why the toggle cannot be switched on now (a dependent factor with no independent one on).
    blocked_reason: str | None

    def public(self) -> dict[str, Any]:
        """Auth0's guardian factor shape."""
        return {"name": self.name, "enabled": self.enabled, "trial_expired": False}


class MfaOperations:
    def __init__(self, store: Store, engine: MfaEngine) -> None:
        self.store = store
        self.engine = engine

    async def factors(self) -> list[FactorState]:
        enabled = set(await self.engine.enabled_ids())
        independent_on = any(
            self.engine.factor(i) and self.engine.factor(i).independent  # type: ignore[union-attr]
            for i in enabled
        )
        states = []
        for info in self.engine.registry:
            factor = self.engine.factor(info.id)
            assert factor is not None
            blocked = None
            if not factor.independent and info.id not in enabled and not independent_on:
                blocked = (
                    f"{factor.display_name} can only be enabled while an independent factor "
                    "(such as an authenticator app) is enabled."
                )
            states.append(
                FactorState(
                    name=info.id,
                    display_name=factor.display_name,
                    enabled=info.id in enabled,
                    independent=factor.independent,
                    standalone=can_stand_alone(factor),
                    settings=dict(factor.context.settings),
                    blocked_reason=blocked,
                )
            )
        return states

    async def set_enabled(self, name: str, enabled: bool, actor: str) -> None:
        if self.engine.factor(name) is None:
            raise NotFound(f"no installed factor is named {name!r}")
        try:
            await self.engine.set_enabled(name, enabled)
        except ToggleRefused as exc:
            raise OperationError(str(exc)) from exc
        action = "guardian.factor.enable" if enabled else "guardian.factor.disable"
        await self.store.audit.record(actor, action, name)

    async def set_settings(self, name: str, values: dict[str, Any], actor: str) -> dict[str, Any]:
        if self.engine.factor(name) is None:
            raise NotFound(f"no installed factor is named {name!r}")
        try:
            merged = await self.engine.set_factor_settings(name, values)
        except ToggleRefused as exc:
            raise OperationError(str(exc)) from exc
        await self.store.audit.record(actor, "guardian.factor.settings", name, values)
        return merged

    async def policy(self) -> str:
        return await self.engine.policy()

    async def set_policy(self, policy: str, actor: str) -> None:
        try:
            await self.engine.set_policy(policy)
        except ToggleRefused as exc:
            raise OperationError(str(exc)) from exc
        await self.store.audit.record(actor, "guardian.policy", None, {"policy": policy})
