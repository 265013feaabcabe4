"""Helpers for purge tests: plant a consent's data (with a canary) and check it is gone."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from io import StringIO

import orjson
import redis
from django.conf import settings
from django.core.management import call_command

from consent.models import Consent
from fhircache.loader import SourceInfo, load_resources


def new_canary() -> str:
    return f"CANARY{secrets.token_hex(8)}"


def plant_data(consent: Consent, canary: str) -> None:
    """Cached resources, a quarantined one and a Redis key, each carrying `canary`."""
    source = SourceInfo("test", "https://payer.example/fhir", datetime.now(UTC))
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": canary}]}
    coverage = {
        "resourceType": "Coverage",
        "id": "c1",
        "status": "active",
        "beneficiary": {"reference": "Patient/p1"},
        "payor": [{"display": canary}],
    }
    unservable = {"resourceType": "NotAFhirType", "id": "q1", "note": canary}
    load_resources(consent, [patient, coverage, unservable], source=source)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(f"pbtest:progress:{consent.pk}", orjson.dumps({"family": canary}), ex=3600)


def verify(consent: Consent, canary: str) -> tuple[int, dict]:
    """`manage.py verify_purged ID --canary X --json`: (exit code, report)."""
    out = StringIO()
    code = 0
    try:
        call_command("verify_purged", str(consent.pk), "--canary", canary, "--json", stdout=out)
    except SystemExit as exc:
        code = exc.code
    return code, orjson.loads(out.getvalue())


def sandbox_login(slug: str) -> dict:
    """The first test patient of a sandbox payer (`manage.py sandbox_info --json`)."""
    out = StringIO()
    call_command("sandbox_info", "--json", stdout=out)
    [entry] = [e for e in orjson.loads(out.getvalue()) if e["slug"] == slug]
    return entry["patients"][0]
