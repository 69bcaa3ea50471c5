"""The factor registry: factor plugins discovered through the `provider.factors` entry-point
group, ordered, configured and validated once at start-up.

Configuration (provider.toml):

    [mfa]
    order = ["otp", "recovery-code"]      # preference order on the hosted pages

    [mfa.factors.otp]
    enabled = true                        # the initial state; operators toggle it later
    window = 1                            # factor-specific settings

(`order` rather than `factors = [...]`: TOML cannot hold both a `factors` array and
`[mfa.factors.<id>]` tables.) Any mistake raises RegistryError with one line naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from provider.mfa.api import AUTHENTICATOR_TYPES, Factor, FactorConfigError

ENTRY_POINT_GROUP = "provider.factors"
# Enabled unless configured otherwise: safe factors that need nothing from the operator.
ENABLED_BY_DEFAULT = ("otp", "recovery-code")


class RegistryError(ValueError):
    """Factor plugins or their configuration are not usable; the message is one line."""


@dataclass(frozen=True)
class FactorInfo:
    factor_class: type[Factor]
    distribution: str
    version: str
    settings: Mapping[str, Any]
    enabled_by_config: bool

    @property
    def id(self) -> str:
        return self.factor_class.id


def _check_class(name: str, loaded: Any) -> type[Factor]:
    if not (isinstance(loaded, type) and issubclass(loaded, Factor)):
        raise RegistryError(f"factor plugin {name!r} is not a subclass of provider.mfa.Factor")
    for attribute in ("id", "display_name", "authenticator_type", "independent", "amr"):
        if not hasattr(loaded, attribute):
            raise RegistryError(f"factor plugin {name!r} does not define {attribute!r}")
    if loaded.id != name:
        raise RegistryError(f"factor plugin {name!r} declares id {loaded.id!r}; they must match")
    if loaded.authenticator_type not in AUTHENTICATOR_TYPES:
        raise RegistryError(
            f"factor plugin {name!r}: authenticator_type must be one of {AUTHENTICATOR_TYPES}"
        )
    return loaded


def discover(
    points: Iterable[EntryPoint] | None = None,
) -> dict[str, tuple[type[Factor], str, str]]:
    """Installed factor classes by id, with the distribution and version that provide them."""
    found: dict[str, tuple[type[Factor], str, str]] = {}
    for point in points if points is not None else entry_points(group=ENTRY_POINT_GROUP):
        dist = point.dist.name if point.dist else "unknown"
        version = point.dist.version if point.dist else "unknown"
        if point.name in found:
            other = found[point.name][1]
            if other == dist:
                continue  # the same distribution seen twice on sys.path
            raise RegistryError(
                f"factor id {point.name!r} is provided twice: by {other} and by {dist}"
            )
        try:
            loaded = point.load()
        except Exception as exc:  # noqa: BLE001 - any import failure of a plugin
            raise RegistryError(
                f"factor plugin {point.name!r} ({dist}) failed to load: {exc}"
            ) from exc
        found[point.name] = (_check_class(point.name, loaded), dist, version)
    return found


class FactorRegistry:
    """The installed factors in preference order, with their validated settings."""

    def __init__(self, infos: list[FactorInfo]) -> None:
        self._infos = infos
        self._by_id = {info.id: info for info in infos}

    def __iter__(self) -> Any:
        return iter(self._infos)

    def __contains__(self, factor_id: object) -> bool:
        return factor_id in self._by_id

    def get(self, factor_id: str) -> FactorInfo | None:
        return self._by_id.get(factor_id)

    @property
    def ids(self) -> list[str]:
        return [info.id for info in self._infos]


def build_registry(
    mfa_config: Mapping[str, Any],
    installed: dict[str, tuple[type[Factor], str, str]] | None = None,
) -> FactorRegistry:
    installed = discover() if installed is None else installed
    if "policy" in mfa_config:  # it was accepted but never applied: refuse, never ignore
        raise RegistryError("mfa.policy: not a file setting; use `provider mfa policy`")
    unknown_keys = set(mfa_config) - {"order", "factors"}
    if unknown_keys:
        raise RegistryError(f"mfa: unknown setting(s) {', '.join(sorted(unknown_keys))}")
    order = mfa_config.get("order", [])
    tables = mfa_config.get("factors", {})
    if not isinstance(order, list) or not all(isinstance(x, str) for x in order):
        raise RegistryError("mfa.order: must be a list of factor ids")
    twice = sorted({x for x in order if order.count(x) > 1})
    if twice:
        raise RegistryError(f"mfa.order: lists {', '.join(twice)} twice")
    if not isinstance(tables, dict):
        raise RegistryError("mfa.factors: must be a table of [mfa.factors.<id>] tables")
    available = ", ".join(sorted(installed)) or "none"
    named = [("mfa.order", i) for i in order] + [(f"mfa.factors.{i}", i) for i in tables]
    for key, factor_id in named:
        if factor_id not in installed:
            raise RegistryError(
                f"{key}: no installed factor has the id {factor_id!r} (installed: {available})"
            )
        if key != "mfa.order" and not isinstance(tables[factor_id], dict):
            raise RegistryError(f"{key}: must be a table ([{key}])")

    # Configured order first, then the first-party defaults, then any other plugin by id.
    rest = [i for i in ENABLED_BY_DEFAULT if i in installed and i not in order]
    ordered = list(order) + rest + sorted(set(installed) - set(order) - set(rest))
    infos: list[FactorInfo] = []
    for factor_id in ordered:
        factor_class, dist, version = installed[factor_id]
        table = dict(tables.get(factor_id, {}))
        enabled = table.pop("enabled", factor_id in ENABLED_BY_DEFAULT)
        if not isinstance(enabled, bool):
            raise RegistryError(f"mfa.factors.{factor_id}.enabled: must be true or false")
        try:
            settings = factor_class.validate_settings(table)
        except FactorConfigError as exc:
            raise RegistryError(f"mfa.factors.{factor_id}: {exc}") from exc
        infos.append(FactorInfo(factor_class, dist, version, settings, enabled))

    enabled_ids = [i for i in infos if i.enabled_by_config]
    if enabled_ids and not any(i.factor_class.independent for i in enabled_ids):
        dependents = ", ".join(i.id for i in enabled_ids)
        raise RegistryError(
            f"mfa.factors: the dependent factor(s) {dependents} are enabled but no independent "
            "one (enable e.g. otp)"
        )
    return FactorRegistry(infos)
