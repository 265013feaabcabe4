"""Pure parts of the sandbox: datasets and the per-profile rendering of resources."""

from __future__ import annotations

from fhir.resources.R4B import get_fhir_model_class

from payers.sandbox import datasets
from payers.sandbox.profiles import NAMED
from payers.sandbox.render import CARIN_010_SYSTEM, render, urn_for

BASE = "https://sandbox.example/sandbox/x/fhir"


def test_every_rendered_resource_is_structurally_valid_r4_except_known_source_gaps():
    invalid = []
    for slug, (_, profile) in NAMED.items():
        for patient in profile.patients:
            data = datasets.load(patient.dataset)
            for resource in data.resources:
                out = render(resource, profile, BASE, data.find)
                try:
                    get_fhir_model_class(out["resourceType"]).model_validate(out)
                except ValueError:
                    invalid.append((slug, patient.dataset, out["resourceType"]))

    # Blue Button's own Part D test EOBs lack insurance.focal and insurer: passed on as
    # a real payer would, so the ETL meets a structurally invalid resource. Keystone's
    # member id is not a valid FHIR id on purpose (the gateway serves a mapped id).
    assert set(invalid) == {
        ("bluebird-medicare", "bluebutton-20140000008325", "ExplanationOfBenefit"),
        ("keystone-medicare", "bfd-567834-member-id", "Patient"),
    }
    assert len(invalid) == 11


def test_datasets_are_canonical_relative_references_with_one_patient():
    data = datasets.load("synthea-walter")

    assert data.patient_id == "74f20731-a639-40e1-b8fb-d0d739d53caf"
    assert data.resources[0]["resourceType"] == "Patient"
    eob = data.by_type("ExplanationOfBenefit")[0]
    assert eob["patient"]["reference"] == f"Patient/{data.patient_id}"
    assert datasets.load("bfd-567834").resources[0]["meta"]["lastUpdated"].startswith("2026-")


def test_reference_styles_and_legacy_codes():
    data = datasets.load("carin-smile-1")
    eob = data.find("ExplanationOfBenefit", "1")
    _, legacy = NAMED["summit-mutual"]
    _, plain = NAMED["lakeshore-health"]

    out = render(eob, legacy, BASE, data.find)

    assert out["patient"]["reference"] == urn_for("Patient/1") == urn_for("Patient/1")
    assert out["provider"]["reference"] == "#organization-4"
    assert out["contained"][-1]["resourceType"] == "Organization"
    codings = [c for a in out.get("adjudication", []) for c in a["category"]["coding"]]
    codings += [c for i in out["item"] for a in i["adjudication"] for c in a["category"]["coding"]]
    systems = {c.get("system") for c in codings}
    assert CARIN_010_SYSTEM in systems
    assert "display" not in out["type"]["coding"][0]
    assert render(eob, plain, BASE, data.find) == eob  # the well-behaved payer sends it as is
    assert eob["patient"]["reference"] == "Patient/1"  # rendering never mutates the dataset
