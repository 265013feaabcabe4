"""Fixtures for the FHIR API tests: a consent holding real payer data, and tokens for it.

`patient_cache` loads one CPCDS (Synthea) patient and the BFD EOBs into one
consent once per module (the data never changes inside a module); `token_for`
issues a bearer token for a consent the way the authorization server stores
it (only the digest). Expected results in the tests are computed from the raw
JSON of the same files, never through the code under test.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from django.utils import timezone

from consent.models import App, Consent, IssuedToken
from consent.secrets import digest
from fhircache.loader import load_resources
from payers.models import Payer
from tests.fhircache.conftest import FHIR_DATA, source_for

ALL_READ = "launch/patient patient/*.read"
FILES = (
    FHIR_DATA / "cpcds" / "Ariadna374_Aragon562.json",
    FHIR_DATA / "bfd-v2" / "eobByPatientIdAll.json",
    FHIR_DATA / "bfd-v2" / "coverageSearchByPatientId.json",
)


@dataclass
class Cached:
    consent: Consent
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}


def make_consent(*, patient_id: str = "", data_state: str = "ready", app: App | None = None):
    suffix = uuid.uuid4().hex[:8]
    payer = Payer.objects.create(
        slug=f"payer-{suffix}", name=f"Payer {suffix}", fhir_base_url="https://payer.example/fhir"
    )
    app = app or App.objects.create(name=f"App {suffix}", client_id=f"client-{suffix}")
    return Consent.objects.create(
        app=app,
        payer=payer,
        patient_id=patient_id,
        status=Consent.Status.ACTIVE,
        data_state=data_state,
        scope=ALL_READ,
        granted_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=1),
    )


def issue_token(
    consent: Consent | None, scope: str = ALL_READ, *, app: App | None = None, **kw
) -> str:
    value = secrets.token_urlsafe(24)
    IssuedToken.objects.create(
        access_token_hash=digest(value),
        app=app or consent.app,
        consent=consent,
        grant_type="authorization_code" if consent else "client_credentials",
        scope=scope,
        access_expires_at=kw.get("expires_at", timezone.now() + timedelta(hours=1)),
        revoked_at=kw.get("revoked_at"),
    )
    return value


def raw_resources(*paths: Path) -> list[dict]:
    """Resources of the files as the payer sent them (for computing expectations)."""
    found = []
    for path in paths:
        value = orjson.loads(path.read_bytes())
        if value.get("resourceType") == "Bundle":
            found.extend(e["resource"] for e in value.get("entry", []) if "resource" in e)
        else:
            found.append(value)
    return found


def load(consent: Consent, *paths: Path) -> None:
    load_resources(consent, [p.read_bytes() for p in paths], source=source_for())


@pytest.fixture(scope="module")
def patient_cache(django_db_setup, django_db_blocker) -> Callable[[], Cached]:
    """One loaded consent for the module's tests (rows are deleted at module end)."""
    with django_db_blocker.unblock():
        consent = make_consent()
        load(consent, *FILES)
        patient = next(r for r in raw_resources(FILES[0]) if r["resourceType"] == "Patient")
        Consent.objects.filter(pk=consent.pk).update(patient_id=patient["id"])
        consent.refresh_from_db()
        cached = Cached(consent, issue_token(consent))
    yield cached
    with django_db_blocker.unblock():
        from fhircache import repository

        repository.delete_consent_data(consent)
        IssuedToken.objects.filter(consent=consent).delete()
        consent.delete()
