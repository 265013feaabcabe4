"""`manage.py sync_consent ID`: a sync in the foreground, with progress.

Useful for operators and for debugging a payer: it shows each page as it
arrives (what was asked, page number, resources per type) and ends with the
job's state, counts and error. Exits 0 when the sync succeeded, 1 otherwise.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from consent.models import Consent
from etl import jobs
from etl.fetch import Page
from etl.models import SyncJob
from etl.sync import run_job


class Command(BaseCommand):
    help = "Sync one consent from its payer now, in the foreground, showing progress."

    def add_arguments(self, parser) -> None:
        parser.add_argument("consent_id", help="the consent id (as in the token response)")
        parser.add_argument(
            "--incremental", action="store_true", help="only what changed since the last sync"
        )

    def handle(self, consent_id: str, incremental: bool, **options) -> None:
        consent = (
            Consent.objects.filter(pk=consent_id).select_related("payer").first()
            if _is_uuid(consent_id)
            else None
        )
        if consent is None:
            raise CommandError(f"no consent {consent_id}")
        if consent.status not in jobs.OPEN_CONSENT:
            raise CommandError(f"consent {consent_id} is {consent.status}; nothing to sync")
        kind = SyncJob.Kind.INCREMENTAL if incremental else SyncJob.Kind.FULL
        job = jobs.request_sync(
            consent, kind=kind, reason="command", since=_last_success(consent), enqueue_it=False
        )
        if job.state == SyncJob.State.RUNNING:
            raise CommandError(f"job {job.pk} of this consent is already running")
        SyncJob.objects.filter(pk=job.pk).update(next_attempt_at=None)
        self.stdout.write(f"Syncing consent {consent.pk} from {consent.payer.name} (job {job.pk})")
        started = time.monotonic()
        totals = {"pages": 0, "resources": 0}

        def progress(page: Page) -> None:
            totals["pages"] += 1
            totals["resources"] += sum(page.entries_by_type.values())
            kinds = ", ".join(f"{t} {n}" for t, n in sorted(page.entries_by_type.items()))
            self.stdout.write(
                f"  {page.label} page {page.number}: {kinds or 'empty'}"
                f"  [{totals['pages']} pages, {totals['resources']} resources,"
                f" {time.monotonic() - started:.1f} s]"
            )

        done = run_job(job.pk, progress=progress)
        if done is None:
            raise CommandError(f"job {job.pk} was taken by a worker; see the admin")
        self.stdout.write(
            f"{done.state}: {done.total_resources} resources, {done.pages} pages,"
            f" {done.requests} requests, {done.throttled} throttled"
        )
        for rtype, counts in sorted(done.counts.items()):
            self.stdout.write(f"  {rtype}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if done.last_error:
            self.stdout.write(f"error: {done.last_error}")
        if done.state != SyncJob.State.SUCCEEDED:
            raise SystemExit(1)


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _last_success(consent: Consent):
    last = (
        SyncJob.objects.filter(consent=consent, state=SyncJob.State.SUCCEEDED)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    return last
