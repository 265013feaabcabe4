"""What to fetch for one consent: from the payer's CapabilityStatement and the scopes.

Pure functions over documents, so the strategy is testable without a payer.
A type is searched by patient when the CapabilityStatement lists `search-type`
with a patient search parameter for it; a type that can only be read (e.g.
Practitioner, Organization) is fetched by id when something references it.
`Patient/$everything` is tried first where offered and the consent covers
every type; per-type searches are the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consent import scopes as scope_rules

PATIENT_PARAMS = ("patient", "beneficiary", "subject")
# Used when a payer's CapabilityStatement is unavailable: CARIN BB and US Core
# types a Patient Access API serves, searched by `patient`.
FALLBACK_TYPES = (
    "Patient",
    "Coverage",
    "ExplanationOfBenefit",
    "Condition",
    "Observation",
    "Encounter",
    "Procedure",
    "MedicationRequest",
    "Immunization",
    "AllergyIntolerance",
    "DiagnosticReport",
    "DocumentReference",
    "CarePlan",
    "CareTeam",
    "Goal",
)
FALLBACK_READABLE = ("Practitioner", "PractitionerRole", "Organization", "Location", "Medication")


@dataclass(frozen=True)
class TypeSearch:
    resource_type: str
    param: str  # "patient", "beneficiary", "subject"; "" for Patient (read by id)


@dataclass
class Plan:
    everything: bool = False
    searches: list[TypeSearch] = field(default_factory=list)
    # Types we may read by id (and with `_id=a,b` where `id_lists` says so).
    readable: set[str] = field(default_factory=set)
    id_lists: set[str] = field(default_factory=set)
    last_updated: set[str] = field(default_factory=set)  # types searchable by _lastUpdated

    @property
    def types(self) -> list[str]:
        return [s.resource_type for s in self.searches]


def allowed_by(scope: str, resource_type: str) -> bool:
    """Whether a granted scope string lets us search `resource_type` (SMART v1 or v2)."""
    wanted = f"patient/{resource_type}.s"
    return any(scope_rules.permits(s, wanted) for s in scope_rules.resource_scopes(scope))


def covers_everything(scope: str) -> bool:
    return allowed_by(scope, "*") if "patient/*" in scope else False


def _server_resources(capability: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    if not isinstance(capability, dict) or capability.get("resourceType") != "CapabilityStatement":
        return None
    for rest in capability.get("rest") or []:
        if isinstance(rest, dict) and rest.get("mode") == "server":
            found = rest.get("resource")
            return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []
    return None


def _names(items: Any, key: str) -> set[str]:
    if not isinstance(items, list):
        return set()
    return {str(i.get(key)) for i in items if isinstance(i, dict) and i.get(key)}


def make_plan(capability: dict[str, Any] | None, scopes: list[str]) -> Plan:
    """The plan for a payer (`capability`, None when unavailable) under every scope in `scopes`."""

    def allowed(rtype: str) -> bool:
        return all(allowed_by(scope, rtype) for scope in scopes if scope)

    plan = Plan()
    resources = _server_resources(capability)
    if resources is None:
        plan.searches = [
            TypeSearch(t, "" if t == "Patient" else "patient") for t in FALLBACK_TYPES if allowed(t)
        ]
        plan.readable = {t for t in (*FALLBACK_TYPES, *FALLBACK_READABLE) if allowed(t)}
        return plan
    for entry in resources:
        rtype = str(entry.get("type") or "")
        if not rtype or not allowed(rtype):
            continue
        interactions = _names(entry.get("interaction"), "code")
        params = _names(entry.get("searchParam"), "name")
        if "read" in interactions:
            plan.readable.add(rtype)
        if "search-type" in interactions and "_id" in params:
            plan.id_lists.add(rtype)
        if "_lastUpdated" in params:
            plan.last_updated.add(rtype)
        if rtype == "Patient":
            if "read" in interactions:
                plan.searches.append(TypeSearch("Patient", ""))
            offered = _names(entry.get("operation"), "name")
            plan.everything = bool(offered & {"everything", "$everything"})
            continue
        param = next((p for p in PATIENT_PARAMS if p in params), None)
        if "search-type" in interactions and param:
            plan.searches.append(TypeSearch(rtype, param))
    plan.everything = plan.everything and all(covers_everything(s) for s in scopes if s)
    return plan
