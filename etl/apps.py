"""The ETL app: sync jobs, and what a worker process does when it starts."""

from __future__ import annotations

import gc
import logging
import threading

from django.apps import AppConfig

log = logging.getLogger(__name__)

# The types nearly every payer sends; their validators are built when a worker
# starts (others on first sight). ETL_WARM_TYPES overrides the list.
WARM_TYPES = ("Patient", "Coverage", "ExplanationOfBenefit", "Organization", "Practitioner")


def warm_validators(**_signal) -> None:
    """Load the pre-check schema (from its disk cache) and build the common validators
    in the background, so a worker's first page costs what its hundredth does without
    delaying its readiness."""
    from django.conf import settings

    from fhircache.normalize import fastcheck

    types = getattr(settings, "ETL_WARM_TYPES", None) or WARM_TYPES

    def warm() -> None:
        try:
            fastcheck.warm(types)
        except Exception:  # a cold validator is slower, never wrong
            log.exception("warming the structural pre-check failed")
        # Django, the R4B models and the validators live as long as the process: out
        # of the collector's sight, full collections during a sync walk only its pages.
        gc.freeze()

    threading.Thread(target=warm, name="etl-warm", daemon=True).start()


class EtlConfig(AppConfig):
    name = "etl"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import worker_process_init, worker_ready

        # prefork children get worker_process_init; a solo/threads worker only worker_ready
        worker_process_init.connect(warm_validators, weak=False)
        worker_ready.connect(warm_validators, weak=False)

    def purge_consent(self, consent_id) -> dict[str, int]:
        """Purge registry hook: the PHI-bearing parts of the consent's sync jobs.

        A job's counts and errors name resource types and payer answers, never
        resources; they are cleared with the consent all the same, and the jobs
        kept as bare records (state, times) for the payer's health history.
        """
        from django.utils import timezone

        from etl.models import SyncJob

        ended = SyncJob.objects.filter(consent_id=consent_id, state=SyncJob.State.QUEUED).update(
            state=SyncJob.State.CANCELLED, finished_at=timezone.now()
        )
        SyncJob.objects.filter(consent_id=consent_id, state=SyncJob.State.RUNNING).update(
            cancel_requested=True
        )
        cleared = SyncJob.objects.filter(consent_id=consent_id).update(
            counts={}, totals={}, last_error="", since=None
        )
        return {"sync_jobs_cancelled": ended, "sync_jobs_cleared": cleared}
