"""Each normalizer step on real payer resources and on crafted edge cases."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime

import orjson
import pytest

from fhircache.indexing import date_range, extract_index
from fhircache.normalize.carin import (
    C4BB,
    CARIN_010,
    HL7,
    add_current_adjudication_codings,
)
from fhircache.normalize.display import DISPLAYS, fill_displays
from fhircache.normalize.ids import MAPPED_PREFIX, cache_id, is_valid_id
from fhircache.normalize.parse import ParseError, parse
from fhircache.normalize.pipeline import normalize_page
from fhircache.normalize.provenance import SOURCE_EXTENSION, SourceInfo, tag_source
from fhircache.normalize.references import ReferenceResolver, rewrite_references
from fhircache.normalize.validation import validate
from tests.fhircache.conftest import FHIR_DATA, resources_in

SOURCE = SourceInfo("acme", "https://payer.example/fhir", datetime(2026, 1, 2, tzinfo=UTC))


def bundle_entries(name: str) -> list[tuple[str | None, dict]]:
    bundle = orjson.loads((FHIR_DATA / name).read_bytes())
    return [(e.get("fullUrl"), e["resource"]) for e in bundle["entry"]]


def first(name: str, resource_type: str) -> dict:
    return next(r for r in resources_in(FHIR_DATA / name) if r["resourceType"] == resource_type)


# --- parse -------------------------------------------------------------------


def test_parse_accepts_bytes_text_and_dicts():
    raw = (FHIR_DATA / "bluebutton-v2/patient_read_v2.json").read_bytes()
    assert parse(raw)["resourceType"] == "Patient"
    assert parse(raw.decode())["resourceType"] == "Patient"
    value = {"resourceType": "Patient"}
    assert parse(value) is value


@pytest.mark.parametrize("bad", [b"{not json", b"[1, 2]", b"", b'"text"'])
def test_parse_rejects_what_is_not_a_json_object(bad):
    with pytest.raises(ParseError):
        parse(bad)


# --- validation --------------------------------------------------------------


def test_valid_real_resource_passes_validation():
    assert validate(first("cpcds/Walter473_Stracke611.json", "ExplanationOfBenefit")) is None


def test_bfd_placeholder_timestamps_fail_validation_with_an_operation_outcome():
    outcome = validate(first("bfd-v2/eobReadCarrier.json", "ExplanationOfBenefit"))
    assert outcome["resourceType"] == "OperationOutcome"
    expressions = [i["expression"][0] for i in outcome["issue"]]
    assert "ExplanationOfBenefit.meta.lastUpdated" in expressions
    assert all(i["severity"] == "error" for i in outcome["issue"])


def test_missing_required_element_fails_validation():
    outcome = validate(first("bluebutton-v2/eob_read_carrier_v2.json", "ExplanationOfBenefit"))
    assert any("focal" in i["expression"][0] for i in outcome["issue"])


@pytest.mark.parametrize(
    "resource",
    [
        {},
        {"resourceType": "NoSuchType"},
        {"resourceType": "Patient", "bogus": 1},
        {"resourceType": "Patient", "contained": [{"resourceType": "Nope"}]},
    ],
)
def test_structurally_wrong_resources_fail_validation(resource):
    assert validate(resource)["issue"]


# --- ids ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-19990000000001", "part-a--19990000000001", "a" * 64, "x.y"])
def test_valid_payer_ids_are_kept(value):
    assert is_valid_id(value)
    assert cache_id(value) == value


@pytest.mark.parametrize("value", ["a b", "x" * 65, "ünïcode", "a/b", "", "id|1"])
def test_invalid_ids_are_mapped_deterministically_to_valid_ones(value):
    mapped = cache_id(value)
    assert is_valid_id(mapped)
    assert mapped == cache_id(value)
    assert mapped != value


def test_distinct_invalid_ids_map_to_distinct_ids():
    assert cache_id("a b") != cache_id("a  b")


def test_a_payer_id_that_looks_like_a_mapped_one_is_mapped_too():
    mapped = cache_id("x" * 65)  # fhir.resources accepts 65 characters; FHIR does not
    assert mapped.startswith(MAPPED_PREFIX)
    assert cache_id(mapped) not in (mapped, cache_id("x" * 65))
    assert is_valid_id(cache_id(mapped)) and cache_id(mapped) == cache_id(mapped)


def test_two_payer_ids_never_share_a_cache_id_in_a_page():
    long_id = "x" * 65
    entries = [
        (None, {"resourceType": "Patient", "id": long_id, "gender": "male"}),
        (None, {"resourceType": "Patient", "id": cache_id(long_id), "gender": "female"}),
        (
            None,
            {
                "resourceType": "Observation",
                "id": "o1",
                "status": "final",
                "code": {"text": "x"},
                "subject": {"reference": f"Patient/{long_id}"},
            },
        ),
    ]
    page = normalize_page(entries, SOURCE)
    patients = {r.source_id: r.resource_id for r in page.resources if r.resource_type == "Patient"}
    assert len(set(patients.values())) == 2
    (observation,) = (r for r in page.resources if r.resource_type == "Observation")
    assert observation.links == [f"Patient/{patients[long_id]}"]


# --- references --------------------------------------------------------------


def test_urn_uuid_references_of_a_transaction_bundle_resolve_to_cache_ids():
    entries = bundle_entries("cpcds/Walter473_Stracke611.json")
    resolver = ReferenceResolver.for_page(
        ((url, r["resourceType"], r["id"]) for url, r in entries), [SOURCE.base_url]
    )
    eob = next(r for _, r in entries if r["resourceType"] == "ExplanationOfBenefit")
    rewritten = rewrite_references(orjson.dumps(eob), resolver)
    assert b"urn:uuid:" not in rewritten.data
    assert rewritten.unresolved == []
    patient = next(r for _, r in entries if r["resourceType"] == "Patient")
    assert f"Patient/{patient['id']}" in rewritten.links
    assert orjson.loads(rewritten.data)["patient"]["reference"] == f"Patient/{patient['id']}"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/123", "Patient/123"),
        ("Patient/123/_history/7", "Patient/123"),
        ("https://payer.example/fhir/Coverage/part-a", "Coverage/part-a"),
        ("https://payer.example/fhir/Coverage/part-a/_history/2", "Coverage/part-a"),
        ("Patient/bad id!", f"Patient/{cache_id('bad id!')}"),
        ("#coverage", "#coverage"),
        ("https://elsewhere.example/fhir/Patient/1", None),
        ("urn:uuid:00000000-0000-0000-0000-000000000000", None),
        ("Patient?identifier=123", None),
    ],
)
def test_reference_resolution(reference, expected):
    resolver = ReferenceResolver.for_page([], [SOURCE.base_url])
    assert resolver.resolve(reference) == expected


def test_rewrite_keeps_contained_and_unresolvable_references_and_reports_the_latter():
    resource = {
        "resourceType": "ExplanationOfBenefit",
        "contained": [{"resourceType": "Coverage", "id": "coverage"}],
        "insurance": [{"coverage": {"reference": "#coverage"}}],
        "provider": {"reference": "https://elsewhere.example/Practitioner/9"},
        "patient": {"reference": 'Patient/with"quote'},
    }
    resolver = ReferenceResolver.for_page([], [SOURCE.base_url])
    rewritten = rewrite_references(orjson.dumps(resource), resolver)
    out = orjson.loads(rewritten.data)
    assert out["insurance"][0]["coverage"]["reference"] == "#coverage"
    assert out["provider"]["reference"] == "https://elsewhere.example/Practitioner/9"
    quoted = "Patient/" + cache_id('with"quote')
    assert out["patient"]["reference"] == quoted
    assert rewritten.unresolved == ["https://elsewhere.example/Practitioner/9"]
    assert rewritten.links == [quoted]


def test_a_resource_with_an_invalid_id_and_references_to_it_stay_consistent():
    patient = {"resourceType": "Patient", "id": "member 42"}
    observation = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/member 42"},
    }
    # "member 42" is not a valid id: fhir.resources rejects the Patient as sent
    page = normalize_page([(None, patient), (None, observation)], SOURCE, check=lambda r: None)
    by_type = {r.resource_type: r for r in page.resources}
    new_id = by_type["Patient"].resource_id
    assert is_valid_id(new_id) and new_id == cache_id("member 42")
    assert by_type["Patient"].source_id == "member 42"
    assert by_type["Observation"].links == [f"Patient/{new_id}"]
    assert orjson.loads(by_type["Observation"].content)["subject"]["reference"] == (
        f"Patient/{new_id}"
    )


def test_contained_resources_stay_contained():
    entries = bundle_entries("cpcds/Walter473_Stracke611.json")
    page = normalize_page(entries, SOURCE)
    eob = next(r for r in page.resources if r.resource_type == "ExplanationOfBenefit")
    content = orjson.loads(eob.content)
    contained_ids = {c["id"] for c in content["contained"]}
    assert "coverage" in contained_ids
    assert content["insurance"][0]["coverage"]["reference"] == "#coverage"
    assert not any(r.resource_id == "coverage" for r in page.resources)


# --- CARIN BB codings -------------------------------------------------------


def test_current_adjudication_codings_are_added_beside_carin_010_ones():
    eob = first("cpcds/smile-patient1.json", "ExplanationOfBenefit")
    original = copy.deepcopy(eob)
    add_current_adjudication_codings(eob)
    before = [
        c for i in original["item"] for a in i["adjudication"] for c in a["category"]["coding"]
    ]
    after = [c for i in eob["item"] for a in i["adjudication"] for c in a["category"]["coding"]]
    assert all(c in after for c in before)  # nothing the payer sent is removed or changed
    added = [c for c in after if c not in before]
    assert added and {c["system"] for c in added} <= {HL7, C4BB}
    assert {"system": HL7, "code": "submitted", "display": "Submitted Amount"} in added
    assert {"system": HL7, "code": "eligible", "display": "Eligible Amount"} in added
    for item in eob["item"]:
        for adjudication in item["adjudication"]:
            systems = [c["system"] for c in adjudication["category"]["coding"]]
            if CARIN_010 in systems:
                assert HL7 in systems or C4BB in systems


def test_adding_carin_codings_twice_adds_nothing_more():
    eob = first("cpcds/smile-patient2.json", "ExplanationOfBenefit")
    once = add_current_adjudication_codings(eob)
    snapshot = copy.deepcopy(once)
    assert add_current_adjudication_codings(once) == snapshot


def test_current_carin_codes_are_left_alone():
    eob = first("cpcds/Walter473_Stracke611.json", "ExplanationOfBenefit")
    assert add_current_adjudication_codings(copy.deepcopy(eob)) == eob


# --- displays ----------------------------------------------------------------


def test_missing_displays_are_filled_from_free_code_systems_only():
    condition = first("cpcds/Walter473_Stracke611.json", "Condition")
    assert "display" not in condition["clinicalStatus"]["coding"][0]
    out = orjson.loads(fill_displays(orjson.dumps(condition)))
    assert out["clinicalStatus"]["coding"][0]["display"] == "Active"
    assert out["verificationStatus"]["coding"][0]["display"] == "Confirmed"


def test_a_payers_display_is_never_replaced_and_cpt_is_never_filled():
    data = orjson.dumps(
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "oral",
                    "display": "Dental (payer's words)",
                },
                {"system": "http://www.ama-assn.org/go/cpt", "code": "99213"},
            ]
        }
    )
    assert fill_displays(data) == data
    licensed = re.compile(r"ama-assn|cpt|snomed|loinc", re.IGNORECASE)
    assert not any(licensed.search(system) for system, _ in DISPLAYS)


# --- provenance --------------------------------------------------------------


def test_source_tag_keeps_meta_security_and_records_payer_id_and_fetch_time():
    patient = first("bluebutton-v2/patient_read_v2.json", "Patient")
    security = [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]
    patient["meta"]["security"] = security
    tag_source(patient, SOURCE, "-20140000008325", "2026-01-02T00:00:00+00:00")
    assert patient["meta"]["security"] == security
    assert patient["meta"]["source"] == "https://payer.example/fhir/Patient/-20140000008325"
    extension = next(e for e in patient["meta"]["extension"] if e["url"] == SOURCE_EXTENSION)
    values = {
        e["url"]: next(v for k, v in e.items() if k.startswith("value"))
        for e in extension["extension"]
    }
    assert values == {
        "payer": "acme",
        "originalId": "-20140000008325",
        "fetchedAt": "2026-01-02T00:00:00+00:00",
    }
    assert validate(patient) is None  # still valid FHIR


def test_normalized_page_preserves_security_labels_and_is_valid():
    patient = first("bluebutton-v2/patient_read_v2.json", "Patient")
    patient["meta"]["security"] = [{"system": "http://example.org/sec", "code": "42CFRPart2"}]
    page = normalize_page([(None, patient)], SOURCE)
    stored = orjson.loads(page.resources[0].content)
    assert stored["meta"]["security"] == [
        {"system": "http://example.org/sec", "code": "42CFRPart2"}
    ]
    assert validate(stored) is None


def test_refetching_unchanged_data_gives_the_same_hash_but_the_new_fetch_time():
    eob = first("cpcds/Walter473_Stracke611.json", "ExplanationOfBenefit")
    later = SourceInfo("acme", SOURCE.base_url, datetime(2026, 5, 5, tzinfo=UTC))
    a = normalize_page([(None, copy.deepcopy(eob))], SOURCE).resources[0]
    b = normalize_page([(None, copy.deepcopy(eob))], later).resources[0]
    assert a.content_hash == b.content_hash
    assert b"2026-05-05" in b.content and b"2026-05-05" not in a.content


# --- index -------------------------------------------------------------------


def test_index_of_a_real_eob_comes_from_the_parameter_table():
    entries = bundle_entries("cpcds/Walter473_Stracke611.json")
    resolver = ReferenceResolver.for_page(
        ((url, r["resourceType"], r["id"]) for url, r in entries), [SOURCE.base_url]
    )
    eob = next(r for _, r in entries if r["resourceType"] == "ExplanationOfBenefit")
    assert not any(r.startswith("patient\t") for r in extract_index(eob).refs)  # urn:uuid
    index = extract_index(eob, resolver.resolve)
    assert any(
        t.startswith("type\thttp://terminology.hl7.org/CodeSystem/claim-type\t")
        for t in index.tokens
    )
    assert any(t.startswith("identifier\t") for t in index.tokens)
    assert any(d.startswith("billable-period-start\t") for d in index.dates)
    assert any(d.startswith("service-date\t") for d in index.dates)
    assert any(r.startswith("patient\tPatient/") for r in index.refs)


def test_index_of_a_patient_has_normalized_names():
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Müller", "given": ["Zoë"]}],
        "birthDate": "1950-02",
    }
    index = extract_index(patient)
    assert "family\tmuller" in index.strings and "given\tzoe" in index.strings
    assert index.dates == ["birthdate\t1950-02-01T00:00:00.000000Z\t1950-02-28T23:59:59.999999Z"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020", ("2020-01-01T00:00:00.000000Z", "2020-12-31T23:59:59.999999Z")),
        ("2020-02-03", ("2020-02-03T00:00:00.000000Z", "2020-02-03T23:59:59.999999Z")),
        (
            "2020-02-03T10:00:00-05:00",
            ("2020-02-03T15:00:00.000000Z", "2020-02-03T15:00:00.000000Z"),
        ),
        ("2020-02-30", None),
        ("IGNORED_FIELD", None),
    ],
)
def test_date_ranges(value, expected):
    assert date_range(value) == expected
