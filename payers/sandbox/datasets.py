"""Test patients' records, from the real public FHIR data in `data/`.

Each dataset is one patient's resources in a canonical form: plain relative
references (`Type/id`), whatever the source used (`urn:uuid:` in the Synthea
transaction bundles). Quirk profiles then re-render them the way a given
payer would (see `render.py`). Loaded once per process.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

# The real public FHIR corpus (see data/fhir/SOURCES.md); the cache tests load all of it.
DATA = Path(__file__).resolve().parent / "data" / "fhir"

# dataset key -> files that make it up (bundles or single resources)
SOURCES: dict[str, tuple[str, ...]] = {
    "bfd-567834": (
        "bfd-v2/patientRead.json",
        "bfd-v2/eobByPatientIdAll.json",
        "bfd-v2/coverageSearchByPatientId.json",
    ),
    "bluebutton-20140000008325": (
        "bluebutton-v2/patient_read_v2.json",
        "bluebutton-v2/eob_search_pt_v2.json",
        "bluebutton-v2/coverage_search_v2.json",
    ),
    "synthea-walter": ("cpcds/Walter473_Stracke611.json",),
    "synthea-ariadna": ("cpcds/Ariadna374_Aragon562.json",),
    "synthea-henry": ("cpcds/Henry768_Gleichner915.json",),
    "synthea-scot": ("cpcds/Scot349_Hodkiewicz467.json",),
    "carin-smile-1": ("cpcds/smile-patient1.json",),
    "carin-smile-2": ("cpcds/smile-patient2.json",),
}


@dataclass(frozen=True)
class Dataset:
    key: str
    patient_id: str
    resources: tuple[dict[str, Any], ...]

    def by_type(self, resource_type: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["resourceType"] == resource_type]

    def find(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        for resource in self.resources:
            if resource["resourceType"] == resource_type and resource.get("id") == resource_id:
                return resource
        return None

    def types(self) -> list[str]:
        return sorted({r["resourceType"] for r in self.resources})


def _entries(document: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    if document.get("resourceType") == "Bundle":
        return [(e.get("fullUrl"), e["resource"]) for e in document.get("entry", [])]
    return [(None, document)]


# CMS's BFD test fixtures blank volatile fields with this marker; a real server
# sends a timestamp there, so the sandbox serves a fixed, valid one.
_BLANKED = "IGNORED_FIELD"
_FIXED_INSTANT = "2026-01-01T00:00:00.000+00:00"


def _fill_blanked(resource: dict[str, Any]) -> None:
    if resource.get("meta", {}).get("lastUpdated") == _BLANKED:
        resource["meta"]["lastUpdated"] = _FIXED_INSTANT
    if resource.get("created") == _BLANKED:
        resource["created"] = _FIXED_INSTANT


def _rewrite_references(node: Any, mapping: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in mapping:
            node["reference"] = mapping[ref]
        for value in node.values():
            _rewrite_references(value, mapping)
    elif isinstance(node, list):
        for value in node:
            _rewrite_references(value, mapping)


# Datasets served with a patient id that is not a valid FHIR id (payers send
# such ids: `_`, `:`); the gateway serves the Patient under a mapped id
# (consent.patient_ids) and keeps this one as its originalId.
PAYER_ID_VARIANTS: dict[str, tuple[str, str]] = {
    "bfd-567834-member-id": ("bfd-567834", "567834_MBI:1S00-E00-AA00"),
}


def _with_patient_id(key: str, base_key: str, patient_id: str) -> Dataset:
    base = load(base_key)
    resources = copy.deepcopy(base.resources)
    resources[0]["id"] = patient_id  # the Patient comes first
    for resource in resources:
        _rewrite_references(resource, {f"Patient/{base.patient_id}": f"Patient/{patient_id}"})
    return Dataset(key=key, patient_id=patient_id, resources=resources)


@cache
def load(key: str) -> Dataset:
    """One dataset, canonicalised; cached for the life of the process."""
    if key in PAYER_ID_VARIANTS:
        return _with_patient_id(key, *PAYER_ID_VARIANTS[key])
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    urn_map: dict[str, str] = {}
    for name in SOURCES[key]:
        document = orjson.loads((DATA / name).read_bytes())
        for full_url, resource in _entries(document):
            if resource.get("resourceType") == "Bundle":
                continue
            resource = copy.deepcopy(resource)
            _fill_blanked(resource)
            ref = f"{resource['resourceType']}/{resource['id']}"
            if full_url and full_url.startswith("urn:uuid:"):
                urn_map[full_url] = ref
            seen.setdefault((resource["resourceType"], resource["id"]), resource)
    resources = list(seen.values())
    for resource in resources:
        _rewrite_references(resource, urn_map)
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    if len(patients) != 1:
        raise ValueError(f"dataset {key} must hold exactly one Patient, has {len(patients)}")
    # Patient first, then the rest in source order: stable paging.
    ordered = patients + [r for r in resources if r["resourceType"] != "Patient"]
    return Dataset(key=key, patient_id=patients[0]["id"], resources=tuple(ordered))
