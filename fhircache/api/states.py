"""Answers by the consent's `data_state`, exactly as DESIGN.md "States" gives them.

| data_state | answer |
| --- | --- |
| `ready` | the data |
| `partial` | the data; search Bundles carry an outcome entry naming what is missing |
| `none`, `syncing` before the first sync finished | 429, `Retry-After`, issue `transient` |
| `syncing` after an earlier sync finished | the data of that sync |
| `failed`, a retry scheduled | 503 + `Retry-After` |
| `failed` for good | 502 with the reason |
| `purging`, `purged` | 401 (the consent's tokens are dead) |

Sync history comes from `etl.SyncJob` (looked up lazily: fhircache does not
import etl) and is only queried when the state is not `ready`, so the common
read path costs no extra query.
"""

from __future__ import annotations

import math
from datetime import datetime

from django.apps import apps
from django.core.exceptions import FieldError
from django.utils import timezone

from fhircache.api.auth import CHALLENGE_INVALID
from fhircache.api.outcome import FhirError, issue

SYNCING_RETRY_AFTER = 10  # seconds: a first sync usually lands its first pages by then
RESTARTING_RETRY_AFTER = 30  # a failed sync whose new job is queued or running
_FINISHED_OK = ("succeeded", "partial")
_OPEN = ("queued", "running")


def _jobs(consent):
    try:
        model = apps.get_model("etl", "SyncJob")
    except LookupError:
        return None
    return model.objects.filter(consent=consent)


def _first_sync_finished(consent) -> bool:
    jobs = _jobs(consent)
    try:
        return jobs is not None and jobs.filter(state__in=_FINISHED_OK).exists()
    except FieldError:
        return False


def _latest_job(consent):
    jobs = _jobs(consent)
    try:
        return None if jobs is None else jobs.order_by("-created_at").first()
    except FieldError:
        return None


def _seconds_until(moment: datetime) -> int:
    return max(1, math.ceil((moment - timezone.now()).total_seconds()))


def check(consent) -> list[dict]:
    """Warnings to add to search Bundles; raises `FhirError` when there is no data to serve."""
    state = consent.data_state
    if state == "ready":
        return []
    if state == "partial":
        job = _latest_job(consent)
        detail = getattr(job, "last_error", "") if job else ""
        words = "The last sync from the payer was partial: some records may be missing."
        return [issue("incomplete", f"{words} {detail}".strip(), severity="warning")]
    if state in ("none", "syncing"):
        if state == "syncing" and _first_sync_finished(consent):
            return [
                issue(
                    "informational",
                    "A newer sync from the payer is under way; this is the data of the last one.",
                    severity="information",
                )
            ]
        raise FhirError(
            429,
            "transient",
            "The patient's records are still being fetched from the payer; retry shortly.",
            headers={"Retry-After": str(SYNCING_RETRY_AFTER)},
        )
    if state == "failed":
        job = _latest_job(consent)
        retry_at = getattr(job, "next_attempt_at", None) if job else None
        if retry_at is not None and retry_at > timezone.now():
            raise FhirError(
                503,
                "transient",
                "Fetching the records from the payer failed; a retry is scheduled.",
                headers={"Retry-After": str(_seconds_until(retry_at))},
            )
        if job is not None and getattr(job, "state", "") in _OPEN:
            raise FhirError(
                503,
                "transient",
                "Fetching the records from the payer failed; a new attempt is under way.",
                headers={"Retry-After": str(RESTARTING_RETRY_AFTER)},
            )
        reason = (getattr(job, "last_error", "") if job else "") or "the payer could not be synced"
        raise FhirError(502, "exception", f"The patient's records are unavailable: {reason}")
    # purging / purged: the consent has ended; its tokens are no longer honoured
    raise FhirError(
        401,
        "login",
        "This consent has ended; its data is gone.",
        headers={"WWW-Authenticate": CHALLENGE_INVALID},
    )
