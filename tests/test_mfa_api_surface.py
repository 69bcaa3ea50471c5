"""The public factor plugin API (`provider.mfa`) is pinned: its names, their documentation,
the shapes plugins rely on, and that provider's real context matches the documented protocols.
A change here is a change for every plugin author: make it on purpose, and update
docs/plugins.md with it."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import provider.mfa
from provider.db.authenticators import FactorAuthenticatorStorage
from provider.db.factor_codes import FactorCodeStorage
from provider.mfa import (
    AuthenticatorStorage,
    CodeStorage,
    Factor,
    FactorContext,
    MailSender,
    RateLimiter,
)
from provider.mfa.context import NamespacedLimiter, PluginContext, PluginMail

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
API_SOURCE = ROOT / "provider" / "mfa" / "api.py"

PUBLIC = [
    "AUTHENTICATOR_TYPES",
    "Authenticator",
    "AuthenticatorStorage",
    "Challenge",
    "CodeStorage",
    "Enrollment",
    "EnrollmentError",
    "Factor",
    "FactorConfigError",
    "FactorContext",
    "FactorError",
    "MailSender",
    "RateLimiter",
    "StoredAuthenticator",
    "UserView",
    "Verdict",
]


def test_all_is_pinned_and_sorted() -> None:
    """`provider.mfa.__all__` is exactly the pinned list, in sorted order."""
    assert PUBLIC == sorted(PUBLIC)
    assert list(provider.mfa.__all__) == PUBLIC


def test_every_public_name_is_importable() -> None:
    """`from provider.mfa import <name>` works for every name, and star-import gives exactly
    those names."""
    for name in PUBLIC:
        exec(f"from provider.mfa import {name}", {})  # noqa: S102
        assert getattr(provider.mfa, name) is getattr(provider.mfa.api, name)
    namespace: dict[str, Any] = {}
    exec("from provider.mfa import *", namespace)  # noqa: S102
    assert sorted(k for k in namespace if k != "__builtins__") == PUBLIC


def _attribute_docstrings(source: Path) -> dict[str, str]:
    """Module-level `NAME = …` assignments followed by a string literal (attribute docstrings,
    the convention documentation tools read)."""
    body = ast.parse(source.read_text()).body
    found: dict[str, str] = {}
    for statement, following in zip(body, body[1:], strict=False):
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else ([statement.target] if isinstance(statement, ast.AnnAssign) else [])
        )
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = following.value.value
    return found


def test_every_public_name_is_documented() -> None:
    """Each class or function has a docstring of its own (not one inherited); each constant
    has an attribute docstring in provider/mfa/api.py."""
    constants = _attribute_docstrings(API_SOURCE)
    for name in PUBLIC:
        value = getattr(provider.mfa, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            doc = vars(value).get("__doc__")
            assert isinstance(doc, str) and doc.strip(), f"{name} has no docstring"
        else:
            assert constants.get(name, "").strip(), f"{name} has no attribute docstring"


def test_plugin_guide_mentions_every_public_name() -> None:
    """docs/plugins.md names every public name of the API."""
    if not DOC.exists():
        pytest.skip("docs/plugins.md is not written yet")
    text = DOC.read_text()
    missing = [name for name in PUBLIC if not re.search(rf"\b{name}\b", text)]
    assert not missing, f"docs/plugins.md does not mention {missing}"


def test_value_types_are_frozen_with_pinned_fields() -> None:
    """The values exchanged with plugins are frozen dataclasses with these fields, in this
    order (positional construction is part of the API)."""
    expected = {
        "UserView": ["id", "email", "email_verified", "name"],
        "Authenticator": [
            "id",
            "factor_id",
            "authenticator_type",
            "name",
            "active",
            "oob_channel",
            "implicit",
        ],
        "Challenge": ["authenticator_id", "prompt", "input_label", "input_mode", "details"],
        "Verdict": ["accepted", "message", "new_secret", "expired"],
        "Enrollment": [
            "authenticator_id",
            "instructions",
            "secret",
            "uri",
            "qr_svg",
            "input_label",
            "input_mode",
        ],
        "StoredAuthenticator": [
            "id",
            "user_id",
            "name",
            "secret",
            "data",
            "counter",
            "confirmed",
            "created_at",
        ],
    }
    for name, fields in expected.items():
        cls = getattr(provider.mfa, name)
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, name
        assert [field.name for field in dataclasses.fields(cls)] == fields, name
    assert provider.mfa.AUTHENTICATOR_TYPES == ("otp", "oob", "recovery-code")


def test_verdict_helpers() -> None:
    """Verdict.accept / Verdict.refuse build the two kinds of outcome."""
    assert provider.mfa.Verdict.accept() == provider.mfa.Verdict(True, None, None)
    assert provider.mfa.Verdict.accept("NEW").new_secret == "NEW"
    assert provider.mfa.Verdict.refuse("no") == provider.mfa.Verdict(False, "no", None)
    late = provider.mfa.Verdict.refuse("late", expired=True)
    assert late.expired and not late.accepted and not provider.mfa.Verdict.refuse("no").expired


def test_error_hierarchy() -> None:
    """FactorConfigError and EnrollmentError derive from FactorError, itself an Exception."""
    assert issubclass(provider.mfa.FactorError, Exception)
    assert issubclass(provider.mfa.FactorConfigError, provider.mfa.FactorError)
    assert issubclass(provider.mfa.EnrollmentError, provider.mfa.FactorError)


FACTOR_METHODS = {
    "validate_settings": "(settings: 'Mapping[str, Any]') -> 'Mapping[str, Any]'",
    "list_authenticators": "(self, user: 'UserView') -> 'list[Authenticator]'",
    "begin_enrollment": "(self, user: 'UserView') -> 'Enrollment'",
    "confirm_enrollment": "(self, user: 'UserView', authenticator_id: 'str', response: 'str')"
    " -> 'Verdict'",
    "provision": "(self, user: 'UserView') -> 'list[str]'",
    "challenge": "(self, user: 'UserView', authenticator: 'Authenticator', "
    "transaction_id: 'str') -> 'Challenge'",
    "verify": "(self, user: 'UserView', authenticator: 'Authenticator', transaction_id: 'str', "
    "response: 'str') -> 'Verdict'",
}


def test_factor_base_class_is_pinned() -> None:
    """Factor's overridable methods keep their signatures (all async but validate_settings, a
    classmethod), only challenge and verify are abstract, and the class attributes a plugin
    sets are declared with these defaults."""
    public = sorted(
        name
        for name, value in vars(Factor).items()
        if not name.startswith("_") and callable(getattr(Factor, name))
    )
    assert public == sorted(FACTOR_METHODS)
    for name, signature in FACTOR_METHODS.items():
        method = getattr(Factor, name)
        assert str(inspect.signature(method)) == signature, name
        assert inspect.iscoroutinefunction(method) == (name != "validate_settings"), name
        assert getattr(Factor, name).__doc__, f"Factor.{name} has no docstring"
    assert isinstance(vars(Factor)["validate_settings"], classmethod)
    assert Factor.__abstractmethods__ == frozenset({"challenge", "verify"})
    declared = set(inspect.get_annotations(Factor))
    assert declared == {
        "id",
        "display_name",
        "authenticator_type",
        "oob_channel",
        "independent",
        "amr",
        "enrollable",
    }
    assert (Factor.oob_channel, Factor.enrollable) == (None, True)
    assert str(inspect.signature(Factor.__init__)) == "(self, context: 'FactorContext') -> 'None'"


PROTOCOLS = {
    AuthenticatorStorage: ["advance_counter", "confirm", "create", "delete", "get", "list"],
    RateLimiter: ["allowed", "charge", "reset"],
    CodeStorage: ["consume", "issue"],
    MailSender: ["delayed", "send"],
    FactorContext: ["client_address", "keyed_hash", "now"],
}


def _methods(cls: type) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(cls).items()
        if callable(value) and not name.startswith("_")
    }


def test_protocols_are_pinned_and_met_by_the_real_context() -> None:
    """The protocols keep their methods, and what provider really hands a plugin
    (PluginContext, FactorAuthenticatorStorage, NamespacedLimiter) has each of them with the
    same signature, async where the protocol is."""
    implementations = {
        AuthenticatorStorage: FactorAuthenticatorStorage,
        RateLimiter: NamespacedLimiter,
        CodeStorage: FactorCodeStorage,
        MailSender: PluginMail,
        FactorContext: PluginContext,
    }
    for protocol, names in PROTOCOLS.items():
        assert sorted(_methods(protocol)) == names, protocol.__name__
        implementation = implementations[protocol]
        for name, method in _methods(protocol).items():
            real = getattr(implementation, name)
            assert inspect.signature(real) == inspect.signature(method), (protocol, name)
            asynchronous = protocol is not FactorContext
            assert inspect.iscoroutinefunction(real) == asynchronous, (protocol, name)
    context_fields = set(inspect.get_annotations(FactorContext))
    assert context_fields == {
        "factor_id",
        "settings",
        "issuer",
        "service_name",
        "authenticators",
        "limiter",
        "codes",
        "mail",
    }
    real_fields = {field.name for field in dataclasses.fields(PluginContext)}
    assert context_fields <= real_fields


PLUGIN_SOURCES = [
    *sorted((ROOT / "plugins").rglob("*.py")),
    *sorted((ROOT / "tests" / "plugins" / "example_factor").rglob("*.py")),
]


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_public_api(path: Path) -> None:
    """First-party plugins and the example plugin import nothing of provider but
    `provider.mfa`, and only names of its __all__."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("provider"):
            assert node.module == "provider.mfa", f"{path}: imports {node.module}"
            assert {alias.name for alias in node.names} <= set(PUBLIC), path
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("provider"), f"{path}: imports {alias.name}"
