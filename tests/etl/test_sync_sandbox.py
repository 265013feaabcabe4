"""Every test patient of every shipped sandbox payer syncs, end to end.

The patient's journey runs over HTTP (gateway live server, sandbox payers
process); granting enqueues the first sync; a real Celery worker subprocess
pulls the data over HTTP from the sandbox. The cache then holds exactly what
the sandbox serves (minus what was quarantined), and references resolve.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from consent.models import Consent
from etl.models import SyncJob
from fhircache import repository
from payers.models import Payer
from tests.etl.sandbox_sync import (
    connect,
    quarantined_by_type,
    served,
    served_keys,
    wait_for_job,
)


def _shipped() -> list[tuple[str, str]]:
    from payers.sandbox.profiles import NAMED

    return [(slug, p.username) for slug, (_, profile) in NAMED.items() for p in profile.patients]


def test_sandbox_info_lists_the_patients_covered_here(sandbox_payers):
    info = StringIO()
    call_command("sandbox_info", "--json", stdout=info)
    listed = {
        (e["slug"], p["username"]) for e in json.loads(info.getvalue()) for p in e["patients"]
    }
    assert set(_shipped()) <= listed


@pytest.mark.parametrize(("slug", "username"), _shipped())
def test_first_sync_caches_what_the_payer_serves(
    live_server, make_client, sandbox_payers, celery_worker, slug, username
):
    payer = Payer.objects.get(slug=slug)
    consent = connect(live_server, make_client(public=True), payer, username)

    job = wait_for_job(consent, timeout=180)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    consent.refresh_from_db()
    assert consent.data_state == Consent.DataState.READY
    expected = served(slug, username)
    stored = repository.counts(consent)
    quarantined = quarantined_by_type(consent)
    for rtype, n in expected.items():
        assert stored.get(rtype, 0) + quarantined.get(rtype, 0) == n, rtype
    assert set(stored) <= set(expected)
    assert {t: c["fetched"] for t, c in job.counts.items()} == dict(expected)
    # Every local reference resolves, except to what this payer does not have.
    dangling = repository.dangling_references(consent)
    have = served_keys(slug, username)
    assert not [t for _, t in dangling if t in have], dangling[:5]
    assert job.dangling == len(dangling)
    payer.refresh_from_db()
    assert payer.sync_success_count >= 1 and payer.last_sync_at is not None
    assert job.requests >= job.pages > 0 and job.bytes > 0
