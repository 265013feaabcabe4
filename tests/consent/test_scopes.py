"""SMART scope rules (pure functions)."""

from __future__ import annotations

import pytest

from consent import scopes


@pytest.mark.parametrize(
    "scope",
    [
        "patient/*.read",
        "patient/*.rs",
        "patient/ExplanationOfBenefit.r",
        "patient/Coverage.s",
        "launch/patient",
        "offline_access",
        "openid",
        "fhirUser",
    ],
)
def test_known(scope):
    assert scopes.is_known(scope)


@pytest.mark.parametrize(
    "scope",
    ["patient/*.write", "patient/*.cruds", "user/*.read", "system/*.read", "launch", "profile"],
)
def test_unknown(scope):
    assert not scopes.is_known(scope)


@pytest.mark.parametrize(
    ("allowed", "requested", "ok"),
    [
        ("patient/*.read", "patient/Coverage.rs", True),
        ("patient/*.read", "patient/Coverage.r", True),
        ("patient/*.rs", "patient/Coverage.read", True),
        ("patient/Coverage.read", "patient/*.read", False),
        ("patient/Coverage.r", "patient/Coverage.rs", False),
        ("patient/Coverage.rs", "patient/Patient.rs", False),
        ("openid", "fhirUser", False),
    ],
)
def test_permits(allowed, requested, ok):
    assert scopes.permits(allowed, requested) is ok


def test_describe_is_plain_language_and_deduplicated():
    lines = scopes.describe("patient/*.read patient/*.rs openid fhirUser offline_access")
    assert lines == [
        "All of your health plan records",
        "Your identity as a member of the plan",
        "Updates while the consent lasts, without asking you again",
    ]
