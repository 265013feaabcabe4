"""Purge of an ended consent and its proof (`verify_purged`), in-process parts.

The doors that end a consent, with real workers and a sandbox payer, are in
test_revocation_doors.py.
"""

from __future__ import annotations

import threading
from io import StringIO

import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection

from consent import lifecycle
from consent.models import Consent, IssuedToken, PayerGrant, WebhookDelivery
from consent.purge import ConsentNotEnded, purge
from consent.verification import models_referring_to_consent
from fhircache import repository
from tests.consent.purge_helpers import new_canary, plant_data, verify


def _token(live_server, client, issued) -> dict:
    return requests.post(
        f"{live_server.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": issued.code,
            "redirect_uri": issued.redirect_uri,
            "code_verifier": issued.verifier,
        },
        auth=client.auth(),
        timeout=10,
    ).json()


def _unreachable_payer_grant(consent: Consent) -> None:
    """A payer grant at a payer whose revocation endpoint does not answer."""
    payer = consent.payer
    payer.revoke_url = payer.fhir_base_url.replace("/fhir", "/oauth/revoke")
    payer.token_url = payer.fhir_base_url.replace("/fhir", "/oauth/token")
    payer.save()
    PayerGrant.objects.create(consent=consent, access_token="payer-at", refresh_token="payer-rt")


def test_verify_lists_what_is_left_then_purge_leaves_nothing(live_server, make_client, issue_code):
    client = make_client()
    issued = issue_code(client)
    consent = issued.consent
    token = _token(live_server, client, issued)
    canary = new_canary()
    plant_data(consent, canary)
    _unreachable_payer_grant(consent)

    code, before = verify(consent, canary)
    assert code == 1 and not before["clean"]
    where = {item["where"] for item in before["left"]}
    assert {"fhircache.CachedResource.consent", "fhircache.QuarantinedResource.consent"} <= where
    assert {"consent.PayerGrant.consent", "consent.IssuedToken.consent"} <= where
    assert {"fhircache_resource.content", "fhircache_quarantine.content"} <= where
    assert f"pbtest:progress:{consent.pk}" in where

    assert lifecycle.end_consent(consent, reason="test", purge_now=True)
    consent.refresh_from_db()
    assert consent.status == "revoked" and consent.data_state == "purged"
    assert consent.patient_id == ""
    code, after = verify(consent, canary)
    assert code == 0 and after["clean"], after["left"]
    kept = {item["model"] for item in after["retained"]}
    assert "consent.ConsentEvent.consent" in kept

    # What stays: the row and its timeline, with the purge and the payer's failure on it.
    kinds = list(consent.events.values_list("kind", flat=True))
    assert kinds[-4:] == ["revoked", "purge_started", "payer_revocation_failed", "purged"]
    failure = consent.events.get(kind="payer_revocation_failed").detail
    assert "could not be reached" in failure["reason"]
    purged = consent.events.get(kind="purged").detail["deleted"]
    assert purged["fhircache"]["resources"] == 2 and purged["fhircache"]["quarantined"] == 1
    assert purged["consent"]["payer_grants"] == 1 and purged["consent"]["redis_keys"] == 1

    # Our tokens are refused.
    info = requests.post(
        f"{live_server.url}/oauth/introspect",
        data={"token": token["access_token"]},
        auth=client.auth(),
        timeout=10,
    )
    assert info.json() == {"active": False}
    assert not IssuedToken.objects.filter(consent=consent).exists()


def test_purge_is_idempotent_and_safe_concurrently(transactional_db, make_client, issue_code):
    consent = issue_code(make_client()).consent
    plant_data(consent, new_canary())
    lifecycle._end(consent, Consent.Status.REVOKED, "test")  # ended, purge not yet run

    reports, errors = [], []

    def run() -> None:
        try:
            reports.append(purge(consent.pk))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sum(r.deleted.get("fhircache", {}).get("resources", 0) for r in reports) == 2
    again = purge(consent.pk)
    assert again.ran and again.deleted["fhircache"]["resources"] == 0
    assert repository.counts(consent) == {}


def test_open_consent_is_not_purged_without_ending_it(make_client, issue_code):
    consent = issue_code(make_client()).consent
    with pytest.raises(ConsentNotEnded):
        purge(consent.pk)


def test_purge_consent_command_ends_and_purges(make_client, issue_code):
    consent = issue_code(make_client()).consent
    canary = new_canary()
    plant_data(consent, canary)
    out = StringIO()
    call_command("purge_consent", str(consent.pk), stdout=out)
    assert '"resources": 2' in out.getvalue()
    consent.refresh_from_db()
    assert consent.end_reason == "purged_by_operator" and consent.data_state == "purged"
    assert verify(consent, canary)[0] == 0
    with pytest.raises(CommandError, match="not a consent id"):
        call_command("purge_consent", "nope")
    with pytest.raises(CommandError, match="no consent"):
        call_command("verify_purged", "00000000-0000-0000-0000-000000000000")


def test_ending_tells_the_app(make_client, issue_code):
    client = make_client()
    client.app.webhook_url = "http://127.0.0.1:9/hook"
    client.app.save()
    consent = issue_code(client).consent
    lifecycle.end_consent(consent, status=Consent.Status.EXPIRED, reason="expired", purge_now=True)
    assert WebhookDelivery.objects.filter(consent=consent, event_type="consent.expired").exists()
    assert not lifecycle.end_consent(consent, reason="again")  # already ended: no second event
    assert WebhookDelivery.objects.filter(consent=consent).count() == 1


def test_every_foreign_key_to_consent_is_found_through_the_registry():
    found = {f"{m._meta.label}.{name}" for m, name in models_referring_to_consent()}
    assert {
        "consent.PayerGrant.consent",
        "consent.IssuedToken.consent",
        "consent.AuthorizationCode.consent",
        "consent.AuthorizationFlow.consent",
        "consent.ConsentEvent.consent",
        "consent.WebhookDelivery.consent",
        "fhircache.CachedResource.consent",
        "fhircache.QuarantinedResource.consent",
    } <= found
