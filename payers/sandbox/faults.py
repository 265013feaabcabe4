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

import redis
from django.conf import settings
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


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


def _over_key(client_pk: int) -> str:
    return f"payerbridge:sandbox-over-limit:{client_pk}"


def over_rate_limit(profile: QuirkProfile, token: SandboxToken) -> float | None:
    """Seconds until the window reopens when this call is over the client's limit, else None.

    Counted per client and clock minute in Redis (the sandbox may run several
    processes); every call over the limit is also added to a running count.
    """
    if not profile.rate_limit_per_minute:
        return None
    now = time.time()
    key = f"payerbridge:sandbox-rate:{token.client_id}:{int(now // 60)}"
    pipe = _redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, 120)
    if pipe.execute()[0] <= profile.rate_limit_per_minute:
        return None
    _redis().incr(_over_key(token.client_id))
    return 60 - now % 60


def over_limit_count(client_pk: int) -> int:
    """Calls of this client the sandbox answered 429 for being over its per-minute limit."""
    return int(_redis().get(_over_key(client_pk)) or 0)


def injected_fault(profile: QuirkProfile, token: SandboxToken) -> JsonResponse | None:
    """The fault this call gets, if any (after the profile's added latency)."""
    if profile.latency_ms:
        time.sleep(profile.latency_ms / 1000)
    wait = over_rate_limit(profile, token)
    if wait is not None:
        response = JsonResponse(operation_outcome("throttled", "rate limit exceeded"), status=429)
        response["Retry-After"] = str(max(1, int(wait) + 1))
        return response
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
