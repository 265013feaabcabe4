"""Serve unless unservable: what fails structural validation is stored, tagged,
counted and keeps its OperationOutcome; only what cannot be served is quarantined."""

from __future__ import annotations

import random

import orjson
import pytest

from fhircache import criteria as c
from fhircache import repository
from fhircache.loader import load_resources
from fhircache.normalize.pipeline import normalize_page
from fhircache.normalize.quality import (
    QUALITY_SYSTEM,
    STRUCTURE_INVALID,
    is_servable_type,
    quality_tag,
)
from fhircache.normalize.validation import validate
from tests.fhircache.conftest import source_for
from tests.fhircache.test_fastcheck_differential import corpus, mutate

VALID = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}}
INVALID = {"resourceType": "Observation", "id": "o1", "status": "final"}  # no code
TAG = [c.Token("_tag", ((QUALITY_SYSTEM, STRUCTURE_INVALID),))]


def _page(*resources: dict) -> bytes:
    entries = [{"resource": r} for r in resources]
    return orjson.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entries})


def _stored(consent, resource_type: str, resource_id: str) -> dict:
    return orjson.loads(repository.read(consent, resource_type, resource_id).content)


def test_mutated_corpus_resources_are_all_stored_flagged_exactly_when_invalid():
    """No shape of structurally invalid data breaks a normalizer step."""
    rng = random.Random(11)
    resources = corpus()
    mutants = [mutate(rng.choice(resources), rng) for _ in range(300)]
    expected = [validate(orjson.loads(orjson.dumps(m))) is not None for m in mutants]
    page = normalize_page([(None, m) for m in mutants], source_for(), check=validate)
    # only what names no FHIR resource type is quarantined
    unservable = [m for m in mutants if not is_servable_type(m.get("resourceType"))]
    assert len(page.quarantined) == len(unservable)
    assert len(page.resources) == len(mutants) - len(unservable)
    assert sum(r.flagged for r in page.resources) == sum(
        e for m, e in zip(mutants, expected, strict=True) if is_servable_type(m.get("resourceType"))
    )
    for resource in page.resources:
        stored = orjson.loads(resource.content)
        tags = [t for t in stored["meta"].get("tag", []) if t.get("system") == QUALITY_SYSTEM]
        assert (tags == [quality_tag()]) == resource.flagged
        assert ("_tag\t" + QUALITY_SYSTEM + "\t" + STRUCTURE_INVALID in resource.index.tokens) == (
            resource.flagged
        )


@pytest.mark.parametrize(
    ("resource", "why"),
    [
        ({"id": "x"}, "resourceType is missing"),
        ({"resourceType": 7, "id": "x"}, "resourceType is missing"),
        ({"resourceType": "Coding", "id": "x"}, "unknown resource type 'Coding'"),
        ({"resourceType": "DomainResource", "id": "x"}, "unknown resource type"),
        ({"resourceType": "observation", "id": "x"}, "unknown resource type"),
    ],
)
def test_what_names_no_resource_type_is_quarantined(consent, resource, why):
    result = load_resources(consent, [_page(resource, VALID)], source=source_for())
    assert (result.created, result.quarantined, result.flagged) == (1, 1, 0)
    from fhircache.models import QuarantinedResource

    assert why in QuarantinedResource.objects.get(consent=consent).reason


def test_a_flagged_resource_is_counted_tagged_searchable_and_keeps_its_outcome(consent):
    result = load_resources(
        consent, [_page(INVALID, {"resourceType": "Patient", "id": "p"})], source=source_for()
    )
    assert (result.created, result.flagged, result.quarantined) == (2, 1, 0)
    assert result.by_type == {
        "Observation": {
            "received": 1,
            "created": 1,
            "updated": 0,
            "unchanged": 0,
            "quarantined": 0,
            "flagged": 1,
        },
        "Patient": {
            "received": 1,
            "created": 1,
            "updated": 0,
            "unchanged": 0,
            "quarantined": 0,
            "flagged": 0,
        },
    }
    assert _stored(consent, "Observation", "o1")["meta"]["tag"] == [quality_tag()]
    outcome = repository.read_outcome(consent, "Observation", "o1")
    assert outcome["issue"][0]["expression"] == ["Observation.code"]
    assert [r.key for r in repository.search(consent, None, TAG).rows] == ["Observation/o1"]
    assert [r.key for r in repository.search(consent, "Patient", TAG).rows] == []
    assert repository.read_outcome(consent, "Patient", "p") is None
    assert repository.read_outcome(consent, "Observation", "nope\x00") is None


def test_a_resync_with_a_valid_version_drops_tag_and_outcome_and_back(consent):
    load_resources(consent, [_page(INVALID)], source=source_for())
    fixed = load_resources(consent, [_page(VALID)], source=source_for())
    assert (fixed.updated, fixed.flagged) == (1, 0)
    assert "tag" not in _stored(consent, "Observation", "o1")["meta"]
    assert repository.read_outcome(consent, "Observation", "o1") is None
    assert repository.count(consent, None, TAG) == 0
    broken = load_resources(consent, [_page(INVALID)], source=source_for())
    assert (broken.updated, broken.flagged) == (1, 1)
    assert repository.read_outcome(consent, "Observation", "o1") is not None
    again = load_resources(consent, [_page(INVALID)], source=source_for())
    assert (again.unchanged, again.flagged) == (1, 1)


def test_a_payer_tag_of_our_system_is_replaced_and_other_tags_kept(consent):
    payer_tag = {"system": "http://payer.example/tags", "code": "claims"}
    spoofed = {
        **VALID,
        "meta": {"tag": [payer_tag, {"system": QUALITY_SYSTEM, "code": STRUCTURE_INVALID}]},
    }
    load_resources(consent, [_page(spoofed)], source=source_for())
    assert _stored(consent, "Observation", "o1")["meta"]["tag"] == [payer_tag]
    assert repository.read_outcome(consent, "Observation", "o1") is None


@pytest.mark.parametrize(
    "meta",
    ["not an object", ["a", "list"], {"extension": {"url": "http://x", "valueString": "y"}}],
)
def test_a_meta_we_cannot_write_into_is_kept_in_the_outcome(consent, meta):
    resource = {**VALID, "meta": meta}
    result = load_resources(consent, [_page(resource)], source=source_for())
    assert (result.created, result.flagged) == (1, 1)
    stored = _stored(consent, "Observation", "o1")
    assert stored["meta"]["tag"] == [quality_tag()]
    notes = [i for i in repository.read_outcome(consent, "Observation", "o1")["issue"]]
    assert any(i["severity"] == "information" for i in notes)
    if isinstance(meta, dict):  # wrapped, not dropped
        assert meta["extension"] in stored["meta"]["extension"]


def test_outcomes_go_with_their_resources_and_their_consent_only(make_consent):
    alpha, beta = make_consent(), make_consent()
    other = {**INVALID, "id": "o2"}
    for consent in (alpha, beta):
        load_resources(consent, [_page(INVALID, other)], source=source_for())
    assert repository.delete_absent(alpha, [("Observation", "o1")]) == 1
    assert repository.outcome_count(alpha) == 1 and repository.outcome_count(beta) == 2
    assert repository.delete_consent_data(alpha) == {
        "resources": 1,
        "outcomes": 1,
        "quarantined": 0,
    }
    assert repository.outcome_count(alpha) == 0 and repository.outcome_count(beta) == 2
    assert repository.read_outcome(alpha, "Observation", "o2") is None
    assert repository.read_outcome(beta, "Observation", "o2") is not None


def test_the_fhir_api_finds_flagged_resources_by_tag_and_validates_them(db, client):
    from tests.fhircache.api.conftest import issue_token, make_consent

    consent = make_consent(patient_id="p")
    load_resources(consent, [_page(INVALID, {**VALID, "id": "o2"})], source=source_for())
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issue_token(consent)}"}
    found = client.get(f"/fhir/Observation?_tag={QUALITY_SYSTEM}|{STRUCTURE_INVALID}", **auth)
    assert found.status_code == 200, found.content[:500]
    ids = [e["resource"]["id"] for e in found.json()["entry"] if e["search"]["mode"] == "match"]
    assert ids == ["o1"]
    flagged = client.get("/fhir/Observation/o1/$validate", **auth)
    assert flagged.status_code == 200
    assert flagged.json() == repository.read_outcome(consent, "Observation", "o1")
    valid = client.get("/fhir/Observation/o2/$validate", **auth)
    assert valid.status_code == 200
    assert all(i["severity"] not in ("error", "fatal") for i in valid.json()["issue"])
