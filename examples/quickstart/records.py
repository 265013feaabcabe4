"""Who the patient is and what coverage they have, read from Patient and Coverage."""

from __future__ import annotations

from dataclasses import dataclass

from fhirclient.models.coverage import Coverage
from fhirclient.models.patient import Patient


@dataclass(frozen=True)
class PatientView:
    id: str
    name: str
    birth_date: str
    gender: str


@dataclass(frozen=True)
class CoverageView:
    plan: str
    kind: str
    member_id: str
    period: str
    status: str


def _human_name(patient: Patient) -> str:
    for name in patient.name or []:
        if name.text:
            return name.text
        parts = [*(name.given or []), name.family or ""]
        if any(parts):
            return " ".join(p for p in parts if p)
    return "(no name on record)"


def patient_view(resource: dict) -> PatientView:
    patient = Patient(resource, strict=False)
    return PatientView(
        id=patient.id or "",
        name=_human_name(patient),
        birth_date=patient.birthDate.isostring if patient.birthDate else "—",
        gender=patient.gender or "—",
    )


def _concept(concept) -> str:
    if concept is None:
        return ""
    return concept.text or next(
        (c.display or c.code for c in concept.coding or [] if c.display or c.code), ""
    )


def coverage_view(resource: dict) -> CoverageView:
    coverage = Coverage(resource, strict=False)
    plan = next((c.name or c.value for c in coverage.class_fhir or [] if c.name or c.value), "")
    payor = next((p.display or p.reference for p in coverage.payor or []), "")
    period = coverage.period
    start = period.start.isostring[:10] if period and period.start else ""
    end = period.end.isostring[:10] if period and period.end else ""
    return CoverageView(
        plan=" · ".join(x for x in (payor, plan) if x) or "—",
        kind=_concept(coverage.type) or "—",
        member_id=coverage.subscriberId or "—",
        period=f"{start or '?'} to {end}" if end else (f"since {start}" if start else "—"),
        status=coverage.status or "—",
    )
