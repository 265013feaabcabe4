"""The API's compiled token lookup answers exactly what `consent.bearer.authenticate` does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consent import bearer
from consent.models import App, Consent
from fhircache.api import live_token
from tests.fhircache.api.conftest import issue_token, make_consent

pytestmark = pytest.mark.django_db


def test_the_compiled_lookup_agrees_with_the_one_definition():
    assert live_token._compiled() is not None, "the definition could not be compiled"
    past = timezone.now() - timedelta(seconds=1)
    live = make_consent()
    ended = make_consent()
    lapsed = make_consent()
    closed_app = make_consent()
    tokens = {
        "live": issue_token(live),
        "expired": issue_token(live, expires_at=past),
        "revoked": issue_token(live, revoked_at=timezone.now()),
        "consent revoked": issue_token(ended),
        "consent past its end": issue_token(lapsed),
        "app deactivated": issue_token(closed_app),
        "client credentials": issue_token(None, "consents", app=live.app),
        "unknown": "not-a-token",
        "empty": "",
    }
    Consent.objects.filter(pk=ended.pk).update(status=Consent.Status.REVOKED)
    Consent.objects.filter(pk=lapsed.pk).update(expires_at=past)
    App.objects.filter(pk=closed_app.app_id).update(is_active=False)
    for kind, value in tokens.items():
        want, got = bearer.authenticate(value), live_token.authenticate(value)
        assert (want is None) == (got is None), kind
        if want is not None:
            assert (got.pk, got.app_id, got.scope) == (want.pk, want.app_id, want.scope), kind
            assert got.consent_id == want.consent_id, kind
            assert got.app.client_id == want.app.client_id, kind
            if want.consent is not None:
                for field in live_token.CONSENT_FIELDS:
                    assert getattr(got.consent, field) == getattr(want.consent, field), field
                assert got.consent.scope == want.consent.scope  # a deferred field still loads
    assert {k for k, v in tokens.items() if live_token.authenticate(v)} == {
        "live",
        "client credentials",
    }
