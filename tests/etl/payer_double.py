"""A consent at a payer played by `tests.payers.misbehaving.MisbehavingServer`.

The sync runs in the test's process (`etl.sync.run_job`), over real HTTP to
the local server, so each fault is scripted exactly: which answer, in which
order, with which headers.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from consent.models import App, Consent, PayerGrant
from etl.models import SyncJob
from payers.models import Payer
from tests.payers.misbehaving import MisbehavingServer, Reply

PATIENT = "p1"
SCOPE = "launch/patient offline_access patient/*.read"


def capability(*searchable: str, readable: tuple[str, ...] = ("Practitioner",)) -> dict:
    def entry(rtype: str, search: bool) -> dict:
        found = {"type": rtype, "interaction": [{"code": "read"}]}
        if search:
            found["interaction"].append({"code": "search-type"})
            found["searchParam"] = [
                {"name": "patient", "type": "reference"},
                {"name": "_lastUpdated", "type": "date"},
            ]
        return found

    resources = [entry("Patient", False)]
    resources += [entry(t, True) for t in searchable] + [entry(t, False) for t in readable]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "rest": [{"mode": "server", "resource": resources}],
    }


def patient() -> dict:
    return {"resourceType": "Patient", "id": PATIENT, "name": [{"family": "Doe"}]}


def eob(rid: str, practitioner: str | None = None) -> dict:
    resource = {
        "resourceType": "ExplanationOfBenefit",
        "id": rid,
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "professional",
                }
            ]
        },
        "use": "claim",
        "patient": {"reference": f"Patient/{PATIENT}"},
        "created": "2024-01-01T00:00:00Z",
        "insurer": {"display": "Plan"},
        "provider": {"display": "Clinic"},
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": {"display": "Plan"}}],
    }
    if practitioner:
        resource["careTeam"] = [
            {"sequence": 1, "provider": {"reference": f"Practitioner/{practitioner}"}}
        ]
    return resource


def bundle(*resources: dict, next_url: str | None = None) -> dict:
    links = [{"relation": "next", "url": next_url}] if next_url else []
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [{"resource": r} for r in resources],
    }


@dataclass
class DoublePayer:
    server: MisbehavingServer
    payer: Payer
    consent: Consent

    @property
    def base(self) -> str:
        return f"{self.server.url}/fhir"

    def script(self, path: str, *replies: Reply) -> None:
        self.server.script(f"/fhir/{path}" if not path.startswith("/") else path, *replies)

    def job(self, kind: str = SyncJob.Kind.FULL) -> SyncJob:
        return SyncJob.objects.create(
            consent=self.consent, payer=self.payer, app=self.consent.app, kind=kind
        )

    def authorizations(self, path: str) -> list[str]:
        return [r.headers.get("Authorization", "") for r in self.server.hits(f"/fhir/{path}")]


def make_double(
    server: MisbehavingServer,
    *searchable: str,
    refresh_token: str = "",
    expires_in: timedelta | None = timedelta(hours=1),
) -> DoublePayer:
    """An active consent at a payer on `server`, with a standard CapabilityStatement."""
    suffix = secrets.token_hex(4)
    payer = Payer.objects.create(
        slug=f"double-{suffix}",
        name="Misbehaving Health",
        fhir_base_url=f"{server.url}/fhir",
        token_url=f"{server.url}/token",
        client_id="gw",
        client_secret="s3cret",
        status=Payer.Status.ACTIVE,
    )
    app = App.objects.create(name=f"App {suffix}", client_id=f"client-{suffix}")
    consent = Consent.objects.create(
        app=app,
        payer=payer,
        patient_id=PATIENT,
        scope=SCOPE,
        status=Consent.Status.ACTIVE,
        granted_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=1),
    )
    PayerGrant.objects.create(
        consent=consent,
        access_token="tok-1",
        refresh_token=refresh_token,
        scope="patient/*.read",
        expires_at=timezone.now() + expires_in if expires_in else None,
    )
    server.script(
        "/fhir/metadata", Reply(200, capability(*(searchable or ("ExplanationOfBenefit",))))
    )
    server.script(f"/fhir/Patient/{PATIENT}", Reply(200, patient()))
    return DoublePayer(server, payer, consent)
