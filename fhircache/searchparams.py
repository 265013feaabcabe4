"""The search parameters the cache indexes, as data.

One row per (resource type, parameter): its kind and the element paths it reads
(a small FHIRPath subset: dotted element names; lists are descended
automatically; a choice element is listed once per type, e.g. `servicedDate`
and `servicedPeriod`). `fhircache.indexing` walks these paths; no per-type code.

Sources: CARIN Blue Button 2.x (C4BB) search parameters for
ExplanationOfBenefit and Coverage, US Core 6 essentials for the clinical types,
and the FHIR R4 base definitions they build on. `_id` and `_lastUpdated` are
columns of every row and are not listed here; `_tag` and `_security` are
indexed for every type (`params_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["token", "reference", "date", "string"]


@dataclass(frozen=True)
class SearchParam:
    resource_type: str
    name: str
    kind: Kind
    paths: tuple[str, ...]


_TABLE: list[tuple[str, str, Kind, str]] = [
    # --- CARIN BB: ExplanationOfBenefit
    ("ExplanationOfBenefit", "patient", "reference", "patient"),
    ("ExplanationOfBenefit", "type", "token", "type"),
    ("ExplanationOfBenefit", "identifier", "token", "identifier"),
    (
        "ExplanationOfBenefit",
        "service-date",
        "date",
        "billablePeriod item.servicedDate item.servicedPeriod",
    ),
    (
        "ExplanationOfBenefit",
        "service-start-date",
        "date",
        "billablePeriod.start item.servicedDate item.servicedPeriod.start",
    ),
    ("ExplanationOfBenefit", "billable-period-start", "date", "billablePeriod.start"),
    ("ExplanationOfBenefit", "created", "date", "created"),
    ("ExplanationOfBenefit", "status", "token", "status"),
    ("ExplanationOfBenefit", "provider", "reference", "provider"),
    ("ExplanationOfBenefit", "care-team", "reference", "careTeam.provider"),
    ("ExplanationOfBenefit", "coverage", "reference", "insurance.coverage"),
    ("ExplanationOfBenefit", "insurer", "reference", "insurer"),
    ("ExplanationOfBenefit", "payee", "reference", "payee.party"),
    ("ExplanationOfBenefit", "claim", "reference", "claim"),
    ("ExplanationOfBenefit", "encounter", "reference", "item.encounter"),
    ("ExplanationOfBenefit", "facility", "reference", "facility"),
    # --- CARIN BB: Coverage
    ("Coverage", "patient", "reference", "beneficiary"),
    ("Coverage", "beneficiary", "reference", "beneficiary"),
    ("Coverage", "payor", "reference", "payor"),
    ("Coverage", "subscriber", "reference", "subscriber"),
    ("Coverage", "policy-holder", "reference", "policyHolder"),
    ("Coverage", "identifier", "token", "identifier"),
    ("Coverage", "status", "token", "status"),
    ("Coverage", "type", "token", "type"),
    # --- claims beside the EOB
    ("Claim", "patient", "reference", "patient"),
    ("Claim", "identifier", "token", "identifier"),
    ("Claim", "status", "token", "status"),
    ("Claim", "use", "token", "use"),
    ("Claim", "created", "date", "created"),
    ("Claim", "provider", "reference", "provider"),
    ("ClaimResponse", "patient", "reference", "patient"),
    ("ClaimResponse", "identifier", "token", "identifier"),
    ("ClaimResponse", "status", "token", "status"),
    ("ClaimResponse", "use", "token", "use"),
    ("ClaimResponse", "created", "date", "created"),
    ("ClaimResponse", "request", "reference", "request"),
    # --- US Core
    ("Patient", "identifier", "token", "identifier"),
    ("Patient", "name", "string", "name"),
    ("Patient", "family", "string", "name.family"),
    ("Patient", "given", "string", "name.given"),
    ("Patient", "birthdate", "date", "birthDate"),
    ("Patient", "gender", "token", "gender"),
    ("Patient", "address", "string", "address"),
    ("Patient", "address-postalcode", "string", "address.postalCode"),
    ("AllergyIntolerance", "patient", "reference", "patient"),
    ("AllergyIntolerance", "clinical-status", "token", "clinicalStatus"),
    ("AllergyIntolerance", "code", "token", "code"),
    ("CarePlan", "patient", "reference", "subject"),
    ("CarePlan", "category", "token", "category"),
    ("CarePlan", "status", "token", "status"),
    ("CarePlan", "date", "date", "period"),
    ("CareTeam", "patient", "reference", "subject"),
    ("CareTeam", "status", "token", "status"),
    ("Condition", "patient", "reference", "subject"),
    ("Condition", "category", "token", "category"),
    ("Condition", "code", "token", "code"),
    ("Condition", "clinical-status", "token", "clinicalStatus"),
    ("Condition", "onset-date", "date", "onsetDateTime onsetPeriod"),
    ("Condition", "recorded-date", "date", "recordedDate"),
    ("Condition", "encounter", "reference", "encounter"),
    ("Device", "patient", "reference", "patient"),
    ("Device", "type", "token", "type"),
    ("DiagnosticReport", "patient", "reference", "subject"),
    ("DiagnosticReport", "category", "token", "category"),
    ("DiagnosticReport", "code", "token", "code"),
    ("DiagnosticReport", "status", "token", "status"),
    ("DiagnosticReport", "date", "date", "effectiveDateTime effectivePeriod"),
    ("DiagnosticReport", "encounter", "reference", "encounter"),
    ("DocumentReference", "patient", "reference", "subject"),
    ("DocumentReference", "identifier", "token", "identifier"),
    ("DocumentReference", "type", "token", "type"),
    ("DocumentReference", "category", "token", "category"),
    ("DocumentReference", "status", "token", "status"),
    ("DocumentReference", "date", "date", "date"),
    ("DocumentReference", "period", "date", "context.period"),
    ("Encounter", "patient", "reference", "subject"),
    ("Encounter", "identifier", "token", "identifier"),
    ("Encounter", "type", "token", "type"),
    ("Encounter", "class", "token", "class"),
    ("Encounter", "status", "token", "status"),
    ("Encounter", "date", "date", "period"),
    ("Encounter", "location", "reference", "location.location"),
    ("Goal", "patient", "reference", "subject"),
    ("Goal", "lifecycle-status", "token", "lifecycleStatus"),
    ("Goal", "target-date", "date", "target.dueDate"),
    ("Immunization", "patient", "reference", "patient"),
    ("Immunization", "status", "token", "status"),
    ("Immunization", "date", "date", "occurrenceDateTime"),
    ("Immunization", "vaccine-code", "token", "vaccineCode"),
    ("Location", "identifier", "token", "identifier"),
    ("Location", "name", "string", "name alias"),
    ("Location", "address", "string", "address"),
    ("MedicationRequest", "patient", "reference", "subject"),
    ("MedicationRequest", "status", "token", "status"),
    ("MedicationRequest", "intent", "token", "intent"),
    ("MedicationRequest", "authoredon", "date", "authoredOn"),
    ("MedicationRequest", "code", "token", "medicationCodeableConcept"),
    ("MedicationRequest", "medication", "reference", "medicationReference"),
    ("MedicationRequest", "encounter", "reference", "encounter"),
    ("Observation", "patient", "reference", "subject"),
    ("Observation", "category", "token", "category"),
    ("Observation", "code", "token", "code"),
    ("Observation", "status", "token", "status"),
    ("Observation", "date", "date", "effectiveDateTime effectivePeriod effectiveInstant"),
    ("Observation", "encounter", "reference", "encounter"),
    ("Organization", "identifier", "token", "identifier"),
    ("Organization", "name", "string", "name alias"),
    ("Organization", "address", "string", "address"),
    ("Practitioner", "identifier", "token", "identifier"),
    ("Practitioner", "name", "string", "name"),
    ("Practitioner", "family", "string", "name.family"),
    ("Practitioner", "given", "string", "name.given"),
    ("PractitionerRole", "practitioner", "reference", "practitioner"),
    ("PractitionerRole", "organization", "reference", "organization"),
    ("PractitionerRole", "specialty", "token", "specialty"),
    ("PractitionerRole", "role", "token", "code"),
    ("Procedure", "patient", "reference", "subject"),
    ("Procedure", "code", "token", "code"),
    ("Procedure", "status", "token", "status"),
    ("Procedure", "date", "date", "performedDateTime performedPeriod"),
    ("Procedure", "encounter", "reference", "encounter"),
    ("Provenance", "target", "reference", "target"),
]

# FHIR R4 §3.1.1.5 parameters of every resource type (Resource.meta): `_tag`
# finds, among others, what our data-quality tag marks (fhircache/normalize/quality.py).
_COMMON: list[tuple[str, Kind, str]] = [
    ("_tag", "token", "meta.tag"),
    ("_security", "token", "meta.security"),
]
COMMON_NAMES = frozenset(name for name, _kind, _paths in _COMMON)


def _common(resource_type: str) -> tuple[SearchParam, ...]:
    return tuple(SearchParam(resource_type, n, k, tuple(p.split())) for n, k, p in _COMMON)


SEARCH_PARAMS: dict[str, tuple[SearchParam, ...]] = {}
for _type, _name, _kind, _paths in _TABLE:
    SEARCH_PARAMS.setdefault(_type, _common(_type))
    SEARCH_PARAMS[_type] += (SearchParam(_type, _name, _kind, tuple(_paths.split())),)


def params_of(resource_type: str) -> tuple[SearchParam, ...]:
    """Every parameter indexed for `resource_type`: its own and the common ones."""
    found = SEARCH_PARAMS.get(resource_type)
    return found if found is not None else _common(resource_type)


def search_param(resource_type: str, name: str) -> SearchParam | None:
    """The definition of `name` on `resource_type`, or None when it is not indexed."""
    for param in params_of(resource_type):
        if param.name == name:
            return param
    return None
