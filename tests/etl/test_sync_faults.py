"""Faults a payer throws at a sync; each ends in a clear state, nothing duplicated.

The payer is a scripted local HTTP server (tests/payers/misbehaving.py); the
sync runs in this process over real HTTP, with a real database.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest
from django.utils import timezone

from consent import lifecycle
from consent.models import Consent, PayerGrant, WebhookDelivery
from etl import jobs
from etl.models import SyncJob
from etl.sync import run_job
from fhircache import repository
from tests.etl.payer_double import PATIENT, bundle, eob, make_double
from tests.payers.misbehaving import Reply
from tests.services import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

EOB = "ExplanationOfBenefit"
PAGE_2 = f"/fhir/{EOB}?page=2"


def _ids(consent, rtype: str = EOB) -> list[str]:
    return [r.resource_id for r in repository.search(consent, rtype, limit=1000).rows]


def _run(double, kind=SyncJob.Kind.FULL) -> SyncJob:
    job = double.job(kind)
    assert run_job(job.pk) is not None
    job.refresh_from_db()
    double.consent.refresh_from_db()
    return job


def test_a_clean_two_page_sync(misbehaving):
    double = make_double(misbehaving)
    double.script(
        EOB, Reply(200, bundle(eob("e1"), next_url=PAGE_2)), Reply(200, bundle(eob("e2")))
    )
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    assert _ids(double.consent) == ["e1", "e2"]
    assert job.counts[EOB]["fetched"] == 2 and job.pages == 3
    assert double.consent.data_state == Consent.DataState.READY
    assert set(double.authorizations(EOB)) == {"Bearer tok-1"}


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_429_storm_with_short_retry_after_is_waited_out(misbehaving, form):
    def retry_after() -> str:
        if form == "seconds":
            return "1"
        return format_datetime(datetime.now(UTC) + timedelta(seconds=1), usegmt=True)

    double = make_double(misbehaving)
    storm = [Reply(429, {"error": "slow down"}, headers={"Retry-After": retry_after()})] * 3
    double.script(EOB, *storm, Reply(200, bundle(eob("e1"))))
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    assert job.throttled == 3 and job.retries >= 3
    assert _ids(double.consent) == ["e1"]


def test_retry_after_past_the_visibility_timeout_becomes_next_attempt_at(misbehaving, settings):
    wait = settings.CELERY_VISIBILITY_TIMEOUT * 2
    double = make_double(misbehaving)
    double.script(
        EOB,
        Reply(200, bundle(eob("e1"), next_url=PAGE_2)),
        Reply(429, headers={"Retry-After": str(wait)}),
        Reply(200, bundle(eob("e2"))),
    )
    job = _run(double)
    assert job.state == SyncJob.State.QUEUED
    assert job.next_attempt_at > timezone.now() + timedelta(seconds=wait - 60)
    assert "Misbehaving Health asked us to wait" in job.last_error
    assert double.consent.data_state == Consent.DataState.SYNCING
    assert jobs.dispatch_due() == []  # not yet due
    assert run_job(job.pk) is None  # a stray message cannot run it early

    double.script(
        EOB, Reply(200, bundle(eob("e1"), next_url=PAGE_2)), Reply(200, bundle(eob("e2")))
    )
    SyncJob.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now())
    assert jobs.dispatch_due() == [job.pk]  # the beat task's work
    assert run_job(job.pk).state == SyncJob.State.SUCCEEDED
    assert _ids(double.consent) == ["e1", "e2"]
    assert SyncJob.objects.get(pk=job.pk).attempts == 2


def test_a_5xx_burst_is_retried(misbehaving, settings):
    double = make_double(misbehaving)
    double.script(EOB, *[Reply(503, "down")] * 5, Reply(200, bundle(eob("e1"))))
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    assert job.retries >= 3 and _ids(double.consent) == ["e1"]


def test_a_type_that_keeps_failing_makes_the_sync_partial_and_deletes_nothing(misbehaving):
    double = make_double(misbehaving, EOB, "Coverage")
    double.script(EOB, Reply(200, bundle(eob("e1"))))
    double.script("Coverage", Reply(200, bundle()))
    assert _run(double).state == SyncJob.State.SUCCEEDED

    double.script("Coverage", Reply(500, "broken"))
    double.script(EOB, Reply(200, bundle()))  # the payer no longer returns e1 ...
    job = _run(double)
    assert job.state == SyncJob.State.PARTIAL
    assert job.last_error == "Coverage page 1: Misbehaving Health answered 500"
    assert _ids(double.consent) == ["e1"]  # ... but a partial run deletes nothing
    assert double.consent.data_state == Consent.DataState.PARTIAL


def test_a_full_sync_removes_what_the_payer_no_longer_returns(misbehaving):
    double = make_double(misbehaving)
    double.script(EOB, Reply(200, bundle(eob("e1"), eob("e2"))))
    assert _run(double).state == SyncJob.State.SUCCEEDED
    double.script(EOB, Reply(200, bundle(eob("e2"))))
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED and job.totals["deleted"] == 1
    assert _ids(double.consent) == ["e2"]


def test_timeouts_are_retried_then_reported(misbehaving, settings):
    settings.ETL_PAYER_READ_TIMEOUT_S = 1
    double = make_double(misbehaving)
    double.script(EOB, Reply(200, bundle(eob("e1")), delay=2.5))
    job = _run(double)
    assert job.state == SyncJob.State.PARTIAL  # the patient came, the claims did not
    assert job.last_error == f"{EOB} page 1: timed out calling {double.base}/{EOB}"
    assert len(misbehaving.hits(f"/fhir/{EOB}")) == 4  # 1 + payers.http's retries
    assert _ids(double.consent, "Patient") == [PATIENT]


def test_truncated_json_is_asked_again(misbehaving):
    double = make_double(misbehaving)
    double.script(
        EOB,
        Reply(200, b'{"resourceType": "Bundle", "entry": [{"reso'),
        Reply(200, bundle(eob("e1"))),
    )
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    assert _ids(double.consent) == ["e1"]


def test_json_that_stays_truncated_is_a_readable_error(misbehaving):
    double = make_double(misbehaving)
    double.script(EOB, Reply(200, b'{"resourceType": "Bundle", "entry": [{"reso'))
    job = _run(double)
    assert job.state == SyncJob.State.PARTIAL
    assert job.last_error == (
        f"{EOB} page 1: Misbehaving Health sent a response that is not valid JSON"
    )
    assert _ids(double.consent, "Patient") == [PATIENT]


def _cut_after_head(page: dict) -> bytes:
    """A page whose head (type, links) arrived whole and whose entries were cut short."""
    text = orjson.dumps(page)
    return text[: text.index(b'"entry":') + 20]


def test_a_page_cut_short_after_its_links_is_asked_again_while_the_chain_goes_on(misbehaving):
    double = make_double(misbehaving)
    first = bundle(eob("e1"), next_url=f"{double.base}/eob-page-2")
    double.script(EOB, Reply(200, _cut_after_head(first)), Reply(200, first))
    double.script("eob-page-2", Reply(200, bundle(eob("e2"))))
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    assert _ids(double.consent) == ["e1", "e2"]
    assert job.counts[EOB]["fetched"] == 2
    assert len(misbehaving.hits(f"/fhir/{EOB}")) == 2  # asked again, once
    assert len(misbehaving.hits("/fhir/eob-page-2")) == 1  # its next link followed once


def test_a_page_that_stays_cut_short_after_its_links_fails_alone(misbehaving):
    double = make_double(misbehaving)
    first = bundle(eob("e1"), next_url=f"{double.base}/eob-page-2")
    double.script(EOB, Reply(200, _cut_after_head(first)))
    double.script("eob-page-2", Reply(200, bundle(eob("e2"))))
    job = _run(double)
    assert job.state == SyncJob.State.PARTIAL
    assert job.last_error == (
        f"{EOB} page 1: Misbehaving Health sent a response that is not valid JSON"
    )
    assert _ids(double.consent) == ["e2"]  # the page after it still came


def test_a_resource_that_fails_validation_is_counted_and_the_sync_succeeds(misbehaving):
    double = make_double(misbehaving)
    broken = eob("bad")
    broken["status"] = ["not", "a", "code"]
    double.script(EOB, Reply(200, bundle(eob("e1"), broken)))
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    assert job.counts[EOB]["fetched"] == 2
    quarantined = repository.quarantine_count(double.consent)
    flagged = job.totals.get("flagged", 0)
    assert quarantined + flagged == 1
    assert len(_ids(double.consent)) + quarantined == 2


def test_a_next_link_loop_is_stopped(misbehaving):
    double = make_double(misbehaving)
    first = f"{double.base}/{EOB}?patient={PATIENT}"
    double.script(
        EOB,
        Reply(200, bundle(eob("e1"), next_url=PAGE_2)),
        Reply(200, bundle(eob("e2"), next_url=first)),
    )
    job = _run(double)
    assert job.state == SyncJob.State.PARTIAL
    assert "page 2: the next link points back to an earlier page" in job.last_error
    assert _ids(double.consent) == ["e1", "e2"]
    assert len(misbehaving.hits(f"/fhir/{EOB}")) == 2


def test_empty_pages_with_next_links_are_followed(misbehaving):
    double = make_double(misbehaving)
    double.script(
        EOB,
        Reply(200, bundle(next_url=PAGE_2)),
        Reply(200, bundle(next_url=f"{EOB}?page=3")),  # relative to the base
        Reply(200, bundle(eob("e1"))),
    )
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    assert _ids(double.consent) == ["e1"]


def test_the_same_resource_on_two_pages_is_stored_once(misbehaving):
    double = make_double(misbehaving)
    double.script(
        EOB,
        Reply(200, bundle(eob("e1"), eob("e2"), next_url=PAGE_2)),
        Reply(200, bundle(eob("e2"), eob("e3"))),
    )
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    assert _ids(double.consent) == ["e1", "e2", "e3"]
    assert repository.read(double.consent, EOB, "e2").version == 1


def test_referenced_resources_are_fetched_by_id(misbehaving):
    double = make_double(misbehaving)
    double.script(EOB, Reply(200, bundle(eob("e1", practitioner="dr1"))))
    practitioner = {"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "Who"}]}
    double.script("Practitioner/dr1", Reply(200, practitioner))
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    assert _ids(double.consent, "Practitioner") == ["dr1"]
    assert repository.dangling_references(double.consent) == [] and job.dangling == 0


def test_a_next_link_to_another_server_is_not_followed(misbehaving, other_server):
    double = make_double(misbehaving)
    double.script(EOB, Reply(200, bundle(eob("e1"), next_url=f"{other_server.url}/fhir/steal")))
    job = _run(double)
    assert job.state == SyncJob.State.PARTIAL
    assert "linked to another server" in job.last_error
    assert other_server.requests == []


def test_a_401_is_refreshed_once_and_the_sync_goes_on(misbehaving):
    double = make_double(misbehaving, refresh_token="refresh-1")
    double.script(EOB, Reply(401, {"error": "expired"}), Reply(200, bundle(eob("e1"))))
    misbehaving.script(
        "/token",
        Reply(
            200,
            {
                "access_token": "tok-2",
                "token_type": "Bearer",
                "expires_in": 20,
                "refresh_token": "refresh-2",
            },
        ),
    )
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    assert double.authorizations(EOB) == ["Bearer tok-1", "Bearer tok-2"]
    grant = PayerGrant.objects.get(consent=double.consent)
    assert (grant.access_token, grant.refresh_token) == ("tok-2", "refresh-2")
    assert len(misbehaving.hits("/token")) == 1


def test_an_expiring_token_is_renewed_before_it_lapses(misbehaving):
    double = make_double(misbehaving, refresh_token="refresh-1", expires_in=timedelta(seconds=1))
    PayerGrant.objects.filter(consent=double.consent).update(
        expires_at=timezone.now() + timedelta(milliseconds=500)
    )
    misbehaving.script(
        "/token", Reply(200, {"access_token": "tok-2", "token_type": "Bearer", "expires_in": 3600})
    )
    double.script(EOB, Reply(200, bundle(eob("e1"))))
    job = _run(double)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    assert set(double.authorizations(EOB)) == {"Bearer tok-2"}


def test_a_token_the_payer_rejects_without_a_refresh_token_needs_the_patient(misbehaving):
    double = make_double(misbehaving)
    app = double.consent.app
    app.webhook_url = "http://127.0.0.1:9/hook"
    app.set_new_webhook_secret()
    app.save()
    double.script(
        EOB, Reply(200, bundle(eob("e1"), next_url=PAGE_2)), Reply(401, {"error": "expired"})
    )
    job = _run(double)
    assert job.state == SyncJob.State.FAILED
    assert job.last_error.startswith("Misbehaving Health no longer accepts our authorization")
    assert "sign in at the plan again" in job.last_error
    assert double.consent.status == Consent.Status.REAUTH_REQUIRED
    assert double.consent.events.filter(kind="reauth_required").count() == 1
    events = list(WebhookDelivery.objects.filter(app=app).values_list("event_type", flat=True))
    assert sorted(events) == ["consent.reauth_required", "sync.failed"]
    # What was cached stays servable.
    assert _ids(double.consent) == ["e1"]
    assert double.consent.data_state == Consent.DataState.PARTIAL


def test_the_payer_revoking_our_tokens_mid_sync(misbehaving):
    double = make_double(misbehaving, refresh_token="refresh-1")
    double.script(
        EOB, Reply(200, bundle(eob("e1"), next_url=PAGE_2)), Reply(401, {"error": "revoked"})
    )
    misbehaving.script("/token", Reply(400, {"error": "invalid_grant"}))
    job = _run(double)
    assert job.state == SyncJob.State.FAILED
    assert "invalid_grant" in job.last_error
    assert double.consent.status == Consent.Status.REAUTH_REQUIRED
    assert _ids(double.consent) == ["e1"]


def test_a_revocation_mid_sync_writes_nothing_after_it(misbehaving):
    double = make_double(misbehaving)
    double.script(
        EOB,
        Reply(200, bundle(eob("e1"), next_url=PAGE_2)),
        Reply(200, bundle(eob("e2")), delay=1.0),
    )

    def revoke_when_page_2_is_asked() -> None:
        wait_until(lambda: len(misbehaving.hits(f"/fhir/{EOB}")) == 2, 30, interval=0.02)
        lifecycle.end_consent(Consent.objects.get(pk=double.consent.pk), reason="test_revoke")

    revoker = threading.Thread(target=revoke_when_page_2_is_asked)
    revoker.start()
    job = _run(double)
    revoker.join()
    assert job.state == SyncJob.State.CANCELLED
    assert "revoked or ended during the sync" in job.last_error
    assert "e2" not in _ids(double.consent)


def test_a_second_request_while_one_is_open_is_coalesced(misbehaving):
    double = make_double(misbehaving)
    first = jobs.request_sync(double.consent, reason="resync")
    second = jobs.request_sync(double.consent, reason="resync")
    assert first.pk == second.pk
    assert SyncJob.objects.filter(consent=double.consent).count() == 1
    claimed = jobs.claim(first.pk)
    assert claimed is not None and jobs.claim(first.pk) is None  # claimed once


def test_a_cancelled_job_stops(misbehaving):
    double = make_double(misbehaving)
    job = double.job()
    assert jobs.cancel(job)
    job.refresh_from_db()
    assert job.state == SyncJob.State.CANCELLED and run_job(job.pk) is None
