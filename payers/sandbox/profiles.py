"""Quirk profiles: how each sandbox payer differs, as data.

Every difference real Patient Access APIs show that a sync must survive is a
field here. Named payers ship with clearly different profiles; tests can make
any number more with `generated_profile(seed)`. Randomness (transient errors)
is drawn from `seed`, so a run is deterministic.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

ALL_TYPES = (
    "Patient",
    "Coverage",
    "ExplanationOfBenefit",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Location",
    "Encounter",
    "Condition",
    "Observation",
    "Procedure",
    "MedicationRequest",
    "Immunization",
    "DiagnosticReport",
    "DocumentReference",
    "AllergyIntolerance",
    "CarePlan",
    "CareTeam",
    "Claim",
    "Device",
    "Goal",
    "Medication",
    "Provenance",
    "ServiceRequest",
    "ImagingStudy",
    "MedicationAdministration",
    "SupplyDelivery",
)
CLAIMS_TYPES = ("Patient", "Coverage", "ExplanationOfBenefit", "Organization", "Practitioner")


@dataclass
class SandboxPatient:
    username: str
    password: str
    dataset: str


@dataclass
class QuirkProfile:
    """Behaviour of one sandbox payer (see README for what each field mimics)."""

    name: str
    patients: list[SandboxPatient]
    seed: int = 1
    page_size: int = 50
    paging: Literal["opaque", "offset"] = "opaque"  # `_getpages` tokens or `startIndex`
    next_link: Literal["absolute", "relative"] = "absolute"
    everything: bool = True  # Patient/$everything offered
    resource_types: tuple[str, ...] = ALL_TYPES
    rate_limit_every: int | None = None  # every Nth FHIR call of a token gets 429
    # A real limit: FHIR calls per clock minute per client; calls beyond it get 429
    # and are counted (faults.over_limit_count), so tests can prove a client keeps to it.
    rate_limit_per_minute: int | None = None
    retry_after: Literal["seconds", "http-date"] = "seconds"
    retry_after_seconds: int = 1
    error_rate: float = 0.0  # share of FHIR calls answered 503 (seeded)
    latency_ms: int = 0
    access_token_seconds: int = 3600
    code_seconds: int = 60  # authorization codes are single use and short lived
    refresh: bool = True  # refresh tokens (rotated) when offline_access is granted
    patient_in_token: bool = True  # `patient` in the token response
    patient_id_source: Literal["token", "id_token", "userinfo", "patient_search"] = "token"
    reference_style: Literal["relative", "absolute", "urn_uuid"] = "relative"
    contained: bool = False  # inline an EOB's insurer/provider as contained resources
    carin_bb_version: Literal["2.0", "0.1.0"] = "2.0"
    missing_display: bool = False  # strip every Coding.display
    scopes: str = "launch/patient openid fhirUser offline_access patient/*.read"
    # How clients authenticate at the token endpoint: a secret, or SMART's
    # asymmetric private_key_jwt with a key of `client_key_alg` registered for them.
    client_auth: Literal["client_secret", "private_key_jwt"] = "client_secret"
    client_key_alg: Literal["RS384", "ES384"] = "RS384"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["resource_types"] = list(self.resource_types)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuirkProfile:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["patients"] = [SandboxPatient(**p) for p in data.get("patients", [])]
        values["resource_types"] = tuple(data.get("resource_types", ALL_TYPES))
        return cls(**values)

    def gateway_quirks(self) -> dict[str, Any]:
        """What the gateway's ETL may want to know up front (stored on `Payer.quirks`)."""
        return {
            "profile": self.name,
            "page_size": self.page_size,
            "paging": self.paging,
            "everything": self.everything,
            "resource_types": list(self.resource_types),
            "reference_style": self.reference_style,
            "carin_bb_version": self.carin_bb_version,
        }


_PASSWORD = "payerbridge"  # noqa: S105 - published test-patient password

# slug -> (display name, profile). Usernames are unique across all of them.
NAMED: dict[str, tuple[str, QuirkProfile]] = {
    "bluebird-medicare": (
        "Bluebird Medicare Advantage (sandbox)",
        QuirkProfile(
            name="bluebutton-like",
            patients=[
                SandboxPatient("bluebird-john", _PASSWORD, "bfd-567834"),
                SandboxPatient("bluebird-pat", _PASSWORD, "bluebutton-20140000008325"),
            ],
            seed=11,
            page_size=5,
            paging="offset",
            everything=False,
            resource_types=("Patient", "Coverage", "ExplanationOfBenefit"),
            access_token_seconds=3600,
        ),
    ),
    "lakeshore-health": (
        "Lakeshore Health Plan (sandbox)",
        QuirkProfile(
            name="well-behaved",
            patients=[
                SandboxPatient("lakeshore-walter", _PASSWORD, "synthea-walter"),
                SandboxPatient("lakeshore-ariadna", _PASSWORD, "synthea-ariadna"),
            ],
            seed=22,
            page_size=50,
            paging="opaque",
            everything=True,
            scopes="launch/patient openid fhirUser offline_access patient/*.rs",
        ),
    ),
    "prairie-medicaid": (
        "Prairie State Medicaid (sandbox)",
        QuirkProfile(
            name="slow-and-flaky",
            patients=[
                SandboxPatient("prairie-scot", _PASSWORD, "synthea-scot"),
                SandboxPatient("prairie-henry", _PASSWORD, "synthea-henry"),
            ],
            seed=33,
            page_size=20,
            paging="offset",
            next_link="relative",
            everything=False,
            rate_limit_every=9,
            retry_after="seconds",
            retry_after_seconds=1,
            error_rate=0.1,
            latency_ms=150,
            access_token_seconds=600,
            refresh=False,
            patient_in_token=False,
            patient_id_source="id_token",
            reference_style="absolute",
            scopes="launch/patient openid fhirUser patient/*.read",
        ),
    ),
    "summit-mutual": (
        "Summit Mutual (sandbox, legacy CARIN BB 0.1.0)",
        QuirkProfile(
            name="legacy-carin",
            patients=[
                SandboxPatient("summit-one", _PASSWORD, "carin-smile-1"),
                SandboxPatient("summit-two", _PASSWORD, "carin-smile-2"),
            ],
            seed=44,
            page_size=3,
            paging="opaque",
            everything=True,
            rate_limit_every=15,
            retry_after="http-date",
            retry_after_seconds=2,
            reference_style="urn_uuid",
            contained=True,
            carin_bb_version="0.1.0",
            missing_display=True,
            resource_types=(*CLAIMS_TYPES, "PractitionerRole", "Location"),
        ),
    ),
    "keystone-medicare": (
        "Keystone Medicare Plan (sandbox, member ids as patient ids)",
        QuirkProfile(
            # the patient's id is not a valid FHIR id (`_`, `:`): the token's
            # `patient` is the mapped id the gateway serves it under
            name="invalid-fhir-ids",
            patients=[SandboxPatient("keystone-member", _PASSWORD, "bfd-567834-member-id")],
            seed=66,
            page_size=10,
            everything=False,
            resource_types=("Patient", "Coverage", "ExplanationOfBenefit"),
        ),
    ),
    "harbor-exchange": (
        "Harbor Exchange Plan (sandbox)",
        QuirkProfile(
            name="no-patient-in-token",
            patients=[
                SandboxPatient("harbor-ariadna", _PASSWORD, "synthea-ariadna"),
                SandboxPatient("harbor-henry", _PASSWORD, "synthea-henry"),
            ],
            seed=55,
            page_size=100,
            paging="opaque",
            next_link="relative",
            everything=False,
            access_token_seconds=300,
            refresh=False,
            patient_in_token=False,
            patient_id_source="patient_search",
            scopes="launch/patient patient/*.read",
            resource_types=(*CLAIMS_TYPES, "Encounter", "Condition", "Observation"),
        ),
    ),
}


def generated_profile(seed: int, patients: list[SandboxPatient]) -> QuirkProfile:
    """A random but reproducible profile, for tests that want many odd payers."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not crypto
    hides_patient = rng.random() < 0.3
    return QuirkProfile(
        name=f"generated-{seed}",
        patients=patients,
        seed=seed,
        page_size=rng.choice((1, 3, 10, 25, 100)),
        paging=rng.choice(("opaque", "offset")),
        next_link=rng.choice(("absolute", "relative")),
        everything=rng.random() < 0.5,
        rate_limit_every=rng.choice((None, None, 5, 11)),
        retry_after=rng.choice(("seconds", "http-date")),
        error_rate=rng.choice((0.0, 0.0, 0.05, 0.2)),
        access_token_seconds=rng.choice((60, 300, 3600)),
        refresh=rng.random() < 0.6,
        patient_in_token=not hides_patient,
        patient_id_source=(
            rng.choice(("id_token", "userinfo", "patient_search")) if hides_patient else "token"
        ),
        reference_style=rng.choice(("relative", "absolute", "urn_uuid")),
        contained=rng.random() < 0.3,
        carin_bb_version=rng.choice(("2.0", "0.1.0")),
        missing_display=rng.random() < 0.3,
        # drawn last, so the fields above stay what they were for every seed
        rate_limit_per_minute=rng.choice((None, 60, 120, 600)),
    )
