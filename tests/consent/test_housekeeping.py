"""Housekeeping (beat task and `manage.py consent_housekeeping`): expiry, lost purges,
dead flows, codes and tokens."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import orjson
from django.core.management import call_command
from django.utils import timezone

from consent import housekeeping, lifecycle
from consent.models import (
    AuthorizationCode,
    AuthorizationFlow,
    Consent,
    IssuedToken,
    WebhookDelivery,
)
from consent.secrets import digest
from fhircache import repository
from tests.consent.purge_helpers import new_canary, plant_data


def test_consents_past_expiry_end_as_expired_and_others_stay(make_client, issue_code):
    client = make_client()
    client.app.webhook_url = "http://127.0.0.1:9/hook"
    client.app.save()
    due = issue_code(client).consent
    lapsed = issue_code(client).consent
    later = issue_code(client).consent
    past = timezone.now() - timedelta(seconds=1)
    Consent.objects.filter(pk=due.pk).update(expires_at=past)
    Consent.objects.filter(pk=lapsed.pk).update(
        expires_at=past, status=Consent.Status.REAUTH_REQUIRED
    )
    out = StringIO()
    call_command("consent_housekeeping", stdout=out)
    assert orjson.loads(out.getvalue())["expired"] == 2
    for consent in (due, lapsed):
        consent.refresh_from_db()
        assert (consent.status, consent.end_reason) == ("expired", "expired")
        assert WebhookDelivery.objects.filter(consent=consent, event_type="consent.expired")
    later.refresh_from_db()
    assert later.status == "active"


def test_a_lost_purge_is_retried(make_client, issue_code):
    consent = issue_code(make_client()).consent
    plant_data(consent, new_canary())
    lifecycle._end(consent, Consent.Status.REVOKED, "test")  # as if the worker died
    long_ago = timezone.now() - housekeeping.PURGE_RETRY_AFTER - timedelta(seconds=1)
    Consent.objects.filter(pk=consent.pk).update(ended_at=long_ago, updated_at=long_ago)
    assert housekeeping.retry_purges(timezone.now()) == 1  # queued for a worker
    # ... which runs the same purge as this:
    from consent.lifecycle_tasks import purge_consent

    purge_consent(str(consent.pk))
    consent.refresh_from_db()
    assert consent.data_state == "purged" and repository.counts(consent) == {}
    assert housekeeping.retry_purges(timezone.now()) == 0


def test_dead_flows_codes_and_tokens_are_deleted(make_client, issue_code):
    client = make_client()
    live = issue_code(client)
    now = timezone.now()
    # An abandoned flow: its consent is still pending and the flow has expired.
    abandoned = Consent.objects.create(app=client.app, payer=live.consent.payer)
    AuthorizationFlow.objects.create(
        app=client.app,
        request_params={},
        session_binding="x",
        consent=abandoned,
        expires_at=now - timedelta(minutes=1),
    )
    AuthorizationFlow.objects.create(  # never got as far as a consent
        app=client.app, request_params={}, session_binding="y", expires_at=now
    )
    AuthorizationCode.objects.filter(consent=live.consent).update(expires_at=now)
    expired_cc = IssuedToken.objects.create(
        access_token_hash=digest("cc"),
        app=client.app,
        grant_type="client_credentials",
        access_expires_at=now - timedelta(seconds=1),
    )
    refreshable = IssuedToken.objects.create(
        access_token_hash=digest("at"),
        refresh_token_hash=digest("rt"),
        app=client.app,
        consent=live.consent,
        grant_type="authorization_code",
        access_expires_at=now - timedelta(seconds=1),
    )
    done = housekeeping.run(now + timedelta(seconds=1))
    assert done["abandoned_flows"] == 1 and done["flows"] >= 1 and done["codes"] >= 1
    abandoned.refresh_from_db()
    assert (abandoned.status, abandoned.end_reason) == ("failed", "flow_expired")
    assert not AuthorizationFlow.objects.filter(expires_at__lte=now).exists()
    assert not IssuedToken.objects.filter(pk=expired_cc.pk).exists()
    # A live consent's refresh token outlives its access token.
    assert IssuedToken.objects.filter(pk=refreshable.pk).exists()
    assert not AuthorizationCode.objects.filter(consent=live.consent).exists()
