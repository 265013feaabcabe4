"""Continuous consents: re-synced at the app's frequency, incrementally where possible."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from consent.models import App, Consent, PayerGrant
from etl import schedule
from etl.models import SyncJob
from etl.sync import run_job
from fhircache import repository
from tests.etl.payer_double import bundle, eob, make_double
from tests.payers.misbehaving import Reply

pytestmark = pytest.mark.django_db(transaction=True)
EOB = "ExplanationOfBenefit"


def _continuous(misbehaving, frequency=App.SyncFrequency.DAILY, **grant):
    double = make_double(misbehaving, **grant)
    Consent.objects.filter(pk=double.consent.pk).update(
        policy=App.ConsentPolicy.CONTINUOUS, data_state=Consent.DataState.READY
    )
    App.objects.filter(pk=double.consent.app_id).update(sync_frequency=frequency)
    return double


def _past_job(double, days_ago: float, kind=SyncJob.Kind.FULL) -> SyncJob:
    job = double.job(kind)
    at = timezone.now() - timedelta(days=days_ago)
    SyncJob.objects.filter(pk=job.pk).update(
        state=SyncJob.State.SUCCEEDED, created_at=at, started_at=at, finished_at=at
    )
    job.refresh_from_db()
    return job


def test_a_daily_consent_is_resynced_incrementally_after_a_day(misbehaving):
    double = _continuous(misbehaving)
    last = _past_job(double, 1.5)
    [job] = schedule.request_due_syncs()
    assert job.consent_id == double.consent.pk and job.reason == "scheduled"
    assert job.kind == SyncJob.Kind.INCREMENTAL and job.since == last.started_at
    assert schedule.request_due_syncs() == []  # coalesced while it is open


def test_frequency_and_periodic_full_syncs(misbehaving):
    weekly = _continuous(misbehaving, App.SyncFrequency.WEEKLY)
    _past_job(weekly, 2)
    stale = _continuous(misbehaving)
    _past_job(stale, 8)
    one_time = make_double(misbehaving)
    _past_job(one_time, 30)
    [job] = schedule.request_due_syncs()
    assert job.consent_id == stale.consent.pk and job.kind == SyncJob.Kind.FULL


def test_an_incremental_sync_asks_for_changes_and_deletes_nothing(misbehaving):
    double = _continuous(misbehaving)
    double.script(EOB, Reply(200, bundle(eob("e1"), eob("e2"))))
    assert run_job(double.job().pk).state == SyncJob.State.SUCCEEDED
    SyncJob.objects.update(created_at=timezone.now() - timedelta(days=2))
    double.script(EOB, Reply(200, bundle(eob("e3"))))
    [job] = schedule.request_due_syncs()
    assert run_job(job.pk).state == SyncJob.State.SUCCEEDED
    query = parse_qs(urlsplit(misbehaving.hits(f"/fhir/{EOB}")[-1].path).query)
    assert query["_lastUpdated"][0].startswith("gt20")
    ids = [r.resource_id for r in repository.search(double.consent, EOB).rows]
    assert ids == ["e1", "e2", "e3"]


def test_payer_tokens_of_continuous_consents_are_renewed_before_they_lapse(misbehaving):
    double = _continuous(misbehaving, refresh_token="r1", expires_in=timedelta(minutes=5))
    misbehaving.script(
        "/token", Reply(200, {"access_token": "tok-2", "token_type": "Bearer", "expires_in": 3600})
    )
    assert schedule.refresh_expiring_tokens() == 1
    grant = PayerGrant.objects.get(consent=double.consent)
    assert grant.access_token == "tok-2" and grant.expires_at > timezone.now() + timedelta(
        minutes=50
    )
    assert schedule.refresh_expiring_tokens() == 0
