"""250 sandbox payers with seeded random quirks, one consent each: every one syncs
completely, and no payer ever sees us over its rate limit.

Tokens come from each payer's real OAuth server (sign-in and consent pages
over HTTP); the consents are then made directly (the journey itself is
tested elsewhere). Syncs run in this process, several at once, over HTTP to
the sandbox process; jobs a payer asked to wait are run again when due, as
the beat task would.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from consent.models import App, Consent, PayerGrant
from etl import jobs
from etl.models import SyncJob
from etl.sync import run_job
from fhircache import repository
from payers import oauth_client
from payers.models import Payer
from payers.sandbox import datasets
from payers.sandbox.faults import over_limit_count
from payers.sandbox.models import SandboxClient
from payers.sandbox.profiles import SandboxPatient, generated_profile
from payers.sandbox.seed import GATEWAY_CLIENT_ID, register_sandbox_payer
from tests.etl.sandbox_sync import quarantined_by_type
from tests.payers.smart import login, redirect_uri_for

pytestmark = pytest.mark.django_db(transaction=True)

# ETL_GENERATED_PAYERS runs fewer (or more) while working on the ETL.
COUNT = int(os.environ.get("ETL_GENERATED_PAYERS", "250"))
DATASET = "carin-smile-1"
PARALLEL = int(os.environ.get("ETL_GENERATED_PARALLEL", "16"))
# Our budget below each payer's published limit (requests cross minute boundaries).
BUDGET = 0.85


def _register(sandbox_url: str, gateway_url: str) -> list[Payer]:
    patients = [SandboxPatient("gen-one", "payerbridge", DATASET)]
    payers = []
    for seed in range(COUNT):
        profile = generated_profile(1000 + seed, patients)
        payer = register_sandbox_payer(
            f"etl-gen-{seed}", f"Generated plan {seed}", profile, sandbox_url, gateway_url
        )
        if profile.rate_limit_per_minute:
            payer.rate_limit_per_minute = int(profile.rate_limit_per_minute * BUDGET)
            payer.save(update_fields=["rate_limit_per_minute"])
        payers.append(payer)
    return payers


def _consent(app: App, payer: Payer, gateway_url: str) -> Consent:
    try:
        token = login(payer, "gen-one", redirect_uri_for(gateway_url), scope=payer.scopes)
        patient = oauth_client.find_patient_id(payer, token)
        consent = Consent.objects.create(
            app=app,
            payer=payer,
            patient_id=patient,
            scope="launch/patient patient/*.read",
            status=Consent.Status.ACTIVE,
            granted_at=timezone.now(),
            expires_at=timezone.now() + timedelta(days=1),
        )
        PayerGrant.objects.create(
            consent=consent,
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token", ""),
            scope=token.get("scope", ""),
            expires_at=timezone.now() + timedelta(seconds=int(token.get("expires_in", 3600))),
        )
        return consent
    finally:
        connection.close()


def _connect_and_sync(app: App, payer: Payer, gateway_url: str) -> Consent:
    """Sign in, then the first sync at once (a 60-second payer token will not wait)."""
    consent = _consent(app, payer, gateway_url)
    try:
        run_job(jobs.request_sync(consent, reason="test", enqueue_it=False).pk)
    finally:
        connection.close()
    return consent


def _finish_waiting(consents: list[Consent], deadline: float) -> None:
    """Jobs a payer asked to wait (long Retry-After): run when due, as beat would."""
    waiting = SyncJob.objects.filter(consent__in=consents, state=SyncJob.State.QUEUED)
    while waiting.exists() and time.monotonic() < deadline:
        for job_id in waiting.filter(next_attempt_at__lte=timezone.now()).values_list(
            "pk", flat=True
        ):
            run_job(job_id)
        time.sleep(1)


def test_generated_payers_all_sync_within_their_limits(sandbox_server, live_server):
    started = time.monotonic()
    payers = _register(sandbox_server.url, live_server.url)
    app = App.objects.create(name="Generated payers app", client_id="gen-app")
    with ThreadPoolExecutor(PARALLEL) as pool:
        consents = list(pool.map(lambda p: _connect_and_sync(app, p, live_server.url), payers))
    _finish_waiting(consents, deadline=started + 900)

    data = datasets.load(DATASET)
    expected: dict[str, int] = {}
    for resource in data.resources:
        expected[resource["resourceType"]] = expected.get(resource["resourceType"], 0) + 1
    failures = []
    for consent in consents:
        job = SyncJob.objects.get(consent=consent)
        stored, quarantined = repository.counts(consent), quarantined_by_type(consent)
        got = {t: stored.get(t, 0) + quarantined.get(t, 0) for t in expected}
        if job.state != SyncJob.State.SUCCEEDED or got != expected:
            failures.append((consent.payer.slug, job.state, job.last_error, got))
    assert failures == [], failures[:5]

    over = {
        p.slug: over_limit_count(
            SandboxClient.objects.get(payer__slug=p.slug, client_id=GATEWAY_CLIENT_ID).pk
        )
        for p in payers
        if p.rate_limit_per_minute
    }
    assert over and all(n == 0 for n in over.values()), {s: n for s, n in over.items() if n}
    throttled = sum(
        SyncJob.objects.filter(consent__in=consents).values_list("throttled", flat=True)
    )
    assert throttled > 0  # the seeded 429s were met, and ridden out
