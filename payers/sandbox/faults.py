"""Seeded faults: latency, 429 + Retry-After, transient 503.

The schedule depends only on the profile's seed, the patient and how many
FHIR calls this access token has made, so every test run sees the same faults
at the same calls.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from django.db.models import F
from django.http import JsonResponse

from payers.sandbox.bundles import operation_outcome
from payers.sandbox.models import SandboxToken
from payers.sandbox.profiles import QuirkProfile


def count_call(token: SandboxToken) -> int:
    SandboxToken.objects.filter(pk=token.pk).update(request_count=F("request_count") + 1)
    return SandboxToken.objects.values_list("request_count", flat=True).get(pk=token.pk)


def retry_after_value(profile: QuirkProfile) -> str:
    if profile.retry_after == "http-date":
        when = datetime.now(UTC) + timedelta(seconds=profile.retry_after_seconds)
        return format_datetime(when, usegmt=True)
    return str(profile.retry_after_seconds)


def injected_fault(profile: QuirkProfile, token: SandboxToken) -> JsonResponse | None:
    """The fault this call gets, if any (after the profile's added latency)."""
    if profile.latency_ms:
        time.sleep(profile.latency_ms / 1000)
    n = count_call(token)
    if profile.rate_limit_every and n % profile.rate_limit_every == 0:
        response = JsonResponse(
            operation_outcome("throttled", "rate limit exceeded; retry later"), status=429
        )
        response["Retry-After"] = retry_after_value(profile)
        return response
    rng = random.Random(f"{profile.seed}:{token.patient_id}:{n}")  # noqa: S311 - not crypto
    if profile.error_rate and rng.random() < profile.error_rate:
        return JsonResponse(
            operation_outcome("transient", "temporary failure; please retry"), status=503
        )
    return None
