"""Discovery fills what a payer's documents say; an admin's explicit value wins (issue 12)."""

from __future__ import annotations

import pytest

from payers.discovery import discover, requested_scopes
from payers.models import Payer
from tests.payers.misbehaving import Reply

pytestmark = pytest.mark.django_db


def smart_document(base: str, **extra) -> dict:
    return {
        "authorization_endpoint": f"{base}/auth",
        "token_endpoint": f"{base}/token",
        "revocation_endpoint": f"{base}/revoke",
        "introspection_endpoint": f"{base}/introspect",
        "scopes_supported": [
            "openid",
            "fhirUser",
            "launch/patient",
            "offline_access",
            "patient/*.read",
            "patient/*.rs",
            "user/*.read",
            "system/*.read",
        ],
        "capabilities": ["launch-standalone", "permission-offline", "permission-patient"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        **extra,
    }


def test_blank_fields_are_filled_from_the_smart_configuration(misbehaving):
    base = f"{misbehaving.url}/fhir"
    misbehaving.script("/fhir/.well-known/smart-configuration", Reply(200, smart_document(base)))
    payer = Payer.objects.create(slug="fills", name="Fills", fhir_base_url=base)

    assert discover(payer) is True

    payer.refresh_from_db()
    assert payer.scopes == "launch/patient openid fhirUser offline_access patient/*.read"
    assert payer.supports_refresh is True
    assert payer.revoke_url == f"{base}/revoke"
    assert payer.introspect_url == f"{base}/introspect"


def test_explicit_admin_values_win(misbehaving):
    base = f"{misbehaving.url}/fhir"
    misbehaving.script("/fhir/.well-known/smart-configuration", Reply(200, smart_document(base)))
    payer = Payer.objects.create(
        slug="explicit",
        name="Explicit",
        fhir_base_url=base,
        scopes="launch/patient patient/ExplanationOfBenefit.read",
        revoke_url="https://admin.example/revoke",
        introspect_url="https://admin.example/introspect",
    )
    discover(payer)  # the first discovery fills supports_refresh ...
    payer.refresh_from_db()
    assert payer.supports_refresh is True
    payer.supports_refresh = False  # ... an admin turns it off, and it stays off
    payer.save()

    assert discover(payer) is True

    payer.refresh_from_db()
    assert payer.scopes == "launch/patient patient/ExplanationOfBenefit.read"
    assert payer.revoke_url == "https://admin.example/revoke"
    assert payer.introspect_url == "https://admin.example/introspect"
    assert payer.supports_refresh is False


def test_refresh_is_read_from_grant_types_alone(misbehaving):
    base = f"{misbehaving.url}/fhir"
    document = smart_document(base, capabilities=["launch-standalone"])
    misbehaving.script("/fhir/.well-known/smart-configuration", Reply(200, document))
    payer = Payer.objects.create(slug="grants", name="Grants", fhir_base_url=base)
    discover(payer)
    payer.refresh_from_db()
    assert payer.supports_refresh is True


@pytest.mark.parametrize(
    ("supported", "expected"),
    [
        # v2 only: the v2 wildcard
        (["launch/patient", "patient/*.rs"], "launch/patient patient/*.rs"),
        # no wildcard: each patient read scope listed
        (
            ["openid", "patient/Coverage.read", "patient/ExplanationOfBenefit.read", "user/x.read"],
            "openid patient/Coverage.read patient/ExplanationOfBenefit.read",
        ),
        # nothing advertised: never an authorize request without scope
        (None, "launch/patient openid fhirUser offline_access patient/*.read"),
        ("not a list", "launch/patient openid fhirUser offline_access patient/*.read"),
    ],
)
def test_requested_scopes(supported, expected):
    assert requested_scopes(supported) == expected


def test_payer_without_refresh_gets_no_offline_access_scope(misbehaving):
    base = f"{misbehaving.url}/fhir"
    document = smart_document(
        base, capabilities=["launch-standalone"], grant_types_supported=["authorization_code"]
    )
    document["scopes_supported"].remove("offline_access")
    misbehaving.script("/fhir/.well-known/smart-configuration", Reply(200, document))
    payer = Payer.objects.create(slug="norefresh", name="No refresh", fhir_base_url=base)
    discover(payer)
    payer.refresh_from_db()
    assert payer.supports_refresh is False
    assert payer.scopes == "launch/patient openid fhirUser patient/*.read"


def test_lapsed_payer_token_without_refresh_moves_the_consent_to_reauth_required(db):
    """One place decides (consent.payer_tokens): active → reauth_required, not left active."""
    from datetime import timedelta

    from django.utils import timezone

    from consent import payer_tokens
    from consent.apps_registry import register_app
    from consent.models import Consent, PayerGrant

    app = register_app("Continuous", ["https://app.example/cb"], consent_policy="continuous").app
    payer = Payer.objects.create(slug="lapsing", name="Lapsing", is_sandbox=True)
    consent = Consent.objects.create(
        app=app, payer=payer, status=Consent.Status.ACTIVE, patient_id="p1"
    )
    PayerGrant.objects.create(
        consent=consent, access_token="old", expires_at=timezone.now() - timedelta(minutes=5)
    )
    with pytest.raises(payer_tokens.PayerAuthorizationLapsed):
        payer_tokens.access_token_for(consent)
    consent.refresh_from_db()
    assert consent.status == Consent.Status.REAUTH_REQUIRED
