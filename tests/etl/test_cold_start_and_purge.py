"""The pre-check schema is built once and kept on disk; the purge hook clears sync jobs."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
from django.apps import apps

from etl.models import SyncJob
from fhircache.normalize import fastcheck
from tests.services import ROOT

BUILD = (
    "from fhircache.normalize import fastcheck as f;"
    " f.compiled_schema(); print(f.schema_cache_path())"
)


def test_a_fresh_process_builds_the_schema_once_and_the_next_loads_it(tmp_path):
    env = {**os.environ, "PAYERBRIDGE_CACHE_DIR": str(tmp_path)}
    run = [sys.executable, "-c", BUILD]
    first = subprocess.run(run, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    path = first.stdout.strip()
    assert path.startswith(str(tmp_path)) and os.path.exists(path)
    built = os.stat(path).st_mtime_ns
    second = subprocess.run(run, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert second.stdout.strip() == path and os.stat(path).st_mtime_ns == built  # loaded
    # What a fresh build wrote is what this process uses (from the checkout's cache).
    assert orjson.loads(open(path, "rb").read()) == fastcheck.compiled_schema()
    assert [p.name for p in tmp_path.iterdir()] == [os.path.basename(path)]  # no temp left


def test_the_purge_hook_cancels_open_jobs_and_clears_their_details(consent):
    done = SyncJob.objects.create(
        consent=consent,
        payer=consent.payer,
        app=consent.app,
        state=SyncJob.State.PARTIAL,
        counts={"ExplanationOfBenefit": {"fetched": 3}},
        last_error="ExplanationOfBenefit page 2: Plan answered 500",
    )
    queued = SyncJob.objects.create(consent=consent, payer=consent.payer, app=consent.app)

    deleted = apps.get_app_config("etl").purge_consent(consent.pk)

    assert deleted == {"sync_jobs_cancelled": 1, "sync_jobs_cleared": 2}
    done.refresh_from_db()
    queued.refresh_from_db()
    assert (done.counts, done.last_error, done.state) == ({}, "", SyncJob.State.PARTIAL)
    assert queued.state == SyncJob.State.CANCELLED
