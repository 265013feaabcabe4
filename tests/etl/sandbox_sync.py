"""Helpers for sync tests against the sandbox payers: a consent through the real
journey, what the sandbox serves for it, and waiting for its sync job."""

from __future__ import annotations

from collections import Counter

from django.db import connection

from consent.models import Consent
from etl.models import SyncJob
from payers.models import Payer
from payers.sandbox import datasets
from payers.sandbox.models import SandboxPayer
from payers.sandbox.profiles import QuirkProfile
from tests.consent.journey import start
from tests.consent.test_journey import click_through
from tests.services import wait_until

PASSWORD = "payerbridge"


def connect(live_server, client, payer: Payer, username: str) -> Consent:
    """The patient's whole journey at `payer`; the granted consent."""
    started = start(live_server, client)
    login = {"username": username, "password": PASSWORD}
    click_through(started.browser, started.browser.get(started.flow_url, timeout=30), payer, login)
    return Consent.objects.filter(app=client.app, payer=payer).latest("created_at")


def _served_resources(slug: str, username: str) -> list[dict]:
    profile = QuirkProfile.from_dict(SandboxPayer.objects.get(slug=slug).profile)
    [patient] = [p for p in profile.patients if p.username == username]
    data = datasets.load(patient.dataset)
    return [r for r in data.resources if r["resourceType"] in profile.resource_types]


def served(slug: str, username: str) -> Counter:
    """Resources per type the sandbox serves this patient (all types the payer lists)."""
    return Counter(r["resourceType"] for r in _served_resources(slug, username))


def served_keys(slug: str, username: str) -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for r in _served_resources(slug, username)}


def quarantined_by_type(consent: Consent) -> Counter:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT resource_type, count(*) FROM fhircache_quarantine WHERE consent_id = %s"
            " GROUP BY resource_type",
            [consent.pk],
        )
        return Counter(dict(cursor.fetchall()))


def wait_for_job(consent: Consent, timeout: float = 120, states=SyncJob.DONE) -> SyncJob:
    def done():
        job = SyncJob.objects.filter(consent=consent).order_by("-created_at").first()
        return job if job is not None and job.state in states else None

    return wait_until(done, timeout, interval=0.3, what=f"sync job of {consent.pk} to end")
