"""Repository queries, paging, versioning, full sync and deletion, per consent."""

from __future__ import annotations

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from fhircache import criteria as c
from fhircache import repository
from fhircache.loader import delete_consent_data, load_resources
from fhircache.models import QuarantinedResource, StoredOutcome
from fhircache.normalize.quality import quality_tag
from tests.fhircache.conftest import FHIR_DATA, resources_in, source_for

WALTER = FHIR_DATA / "cpcds/Walter473_Stracke611.json"
SMILE = FHIR_DATA / "cpcds/smile-patient2.json"


@pytest.fixture
def walter(consent):
    load_resources(consent, [WALTER.read_bytes()], source=source_for())
    return consent


def _patient_id() -> str:
    return next(r["id"] for r in resources_in(WALTER) if r["resourceType"] == "Patient")


def test_read_returns_the_stored_bytes_with_references_rewritten(walter):
    eob_id = next(
        r["id"] for r in resources_in(WALTER) if r["resourceType"] == "ExplanationOfBenefit"
    )
    row = repository.read(walter, "ExplanationOfBenefit", eob_id)
    content = orjson.loads(row.content)
    assert row.version == 1 and content["id"] == eob_id
    assert content["patient"]["reference"] == f"Patient/{_patient_id()}"
    assert repository.read(walter, "ExplanationOfBenefit", "nope") is None


def test_search_by_reference_token_date_and_string(walter):
    patient = f"Patient/{_patient_id()}"
    eobs = repository.count(walter, "ExplanationOfBenefit")
    assert eobs == 7
    assert (
        repository.count(walter, "ExplanationOfBenefit", [c.Reference("patient", (patient,))]) == 7
    )
    assert (
        repository.count(walter, "ExplanationOfBenefit", [c.Reference("patient", ("Patient/x",))])
        == 0
    )
    claim_type = "http://terminology.hl7.org/CodeSystem/claim-type"
    by_type = repository.count(
        walter, "ExplanationOfBenefit", [c.Token("type", ((claim_type, "institutional"),))]
    )
    any_system = repository.count(
        walter, "ExplanationOfBenefit", [c.Token("type", ((None, "institutional"),))]
    )
    wrong_system = repository.count(
        walter, "ExplanationOfBenefit", [c.Token("type", (("http://other", "institutional"),))]
    )
    assert by_type == any_system > 0 and wrong_system == 0
    everything = repository.count(
        walter,
        "Observation",
        [c.Date("date", "ge", "1900-01-01T00:00:00.000000Z", "1900-01-01T23:59:59.999999Z")],
    )
    future = repository.count(
        walter,
        "Observation",
        [c.Date("date", "gt", "2999-01-01T00:00:00.000000Z", "2999-12-31T23:59:59.999999Z")],
    )
    assert everything == repository.count(walter, "Observation") and future == 0
    name = next(r for r in resources_in(WALTER) if r["resourceType"] == "Patient")["name"][0]
    family = name["family"]
    assert repository.count(walter, "Patient", [c.String("family", (family[:3].upper(),))]) == 1
    assert repository.count(walter, "Patient", [c.String("family", ("zzz",))]) == 0
    assert repository.count(walter, "Patient", [c.Id((_patient_id(),))]) == 1


def test_keyset_paging_returns_every_row_once_in_a_stable_order(walter):
    for sort in ("_id", "_lastUpdated"):
        seen, after = [], None
        while True:
            page = repository.search(walter, "Observation", sort=sort, after=after, limit=7)
            seen.extend(r.key for r in page.rows)
            after = page.next_after
            if after is None:
                break
        assert len(seen) == len(set(seen)) == repository.count(walter, "Observation")


def test_last_updated_criteria_and_descending_paging(walter):
    total = repository.count(walter, "Observation")
    past = ("1990-01-01T00:00:00.000000Z", "1990-01-01T23:59:59.999999Z")
    assert repository.count(walter, "Observation", [c.LastUpdated("ge", *past)]) == total
    assert repository.count(walter, "Observation", [c.LastUpdated("lt", *past)]) == 0
    seen, after = [], None
    while True:
        page = repository.search(
            walter, "Observation", sort="_lastUpdated", descending=True, after=after, limit=9
        )
        seen.extend((r.last_updated, r.resource_id) for r in page.rows)
        if (after := page.next_after) is None:
            break
    assert len(seen) == total and seen == sorted(seen, reverse=True)


def test_every_query_is_scoped_to_its_consent(walter, make_consent):
    other = make_consent()
    assert repository.counts(other) == {}
    assert repository.search(other, None).rows == []
    assert repository.read(other, "Patient", _patient_id()) is None
    assert repository.read_many(other, [f"Patient/{_patient_id()}"]) == []
    assert len(repository.read_many(walter, [f"Patient/{_patient_id()}"])) == 1


def test_version_moves_only_when_content_changes(consent):
    resources = resources_in(SMILE)
    load_resources(consent, [SMILE.read_bytes()], source=source_for())
    changed = next(r for r in resources if r["resourceType"] == "Coverage")
    changed["status"] = "cancelled"
    result = load_resources(consent, [orjson.dumps(changed)], source=source_for())
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    assert repository.read(consent, "Coverage", changed["id"]).version == 2
    others = [r for r in resources if r["id"] != changed["id"]]
    assert {repository.read(consent, r["resourceType"], r["id"]).version for r in others} == {1}


def test_full_sync_deletes_what_the_payer_no_longer_has(consent):
    load_resources(consent, [SMILE.read_bytes()], source=source_for(), full_sync=True)
    bundle = orjson.loads(SMILE.read_bytes())
    dropped = bundle["entry"].pop()["resource"]
    result = load_resources(consent, [orjson.dumps(bundle)], source=source_for(), full_sync=True)
    assert result.deleted == 1
    assert repository.read(consent, dropped["resourceType"], dropped["id"]) is None
    assert sum(repository.counts(consent).values()) == len(bundle["entry"])


def test_invalid_resources_are_served_flagged_and_only_unservable_ones_quarantined(consent):
    bad = {"resourceType": "Observation", "id": "bad", "status": "final"}  # no code
    page = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": bad},
            {"resource": {"resourceType": "Patient", "id": "ok"}},
            {"resource": {"resourceType": "NoSuchType", "id": "odd"}},
        ],
    }
    result = load_resources(consent, [orjson.dumps(page), b"{broken"], source=source_for())
    assert (result.created, result.flagged, result.quarantined) == (2, 1, 2)
    assert result.by_type["Observation"] == {
        "received": 1,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "quarantined": 0,
        "flagged": 1,
    }
    assert result.by_type["NoSuchType"]["quarantined"] == 1
    assert result.by_type[""] == {
        "received": 1,
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "quarantined": 1,
        "flagged": 0,
    }
    rows = QuarantinedResource.objects.filter(consent=consent).order_by("source_id")
    assert [r.source_id for r in rows] == ["", "odd"]
    assert rows[0].content == "{broken"  # kept exactly as received
    outcome = repository.read_outcome(consent, "Observation", "bad")
    assert outcome["resourceType"] == "OperationOutcome"
    assert any("code" in i.get("expression", [""])[0] for i in outcome["issue"])
    stored = orjson.loads(repository.read(consent, "Observation", "bad").content)
    assert stored["meta"]["tag"] == [quality_tag()]
    assert repository.read_outcome(consent, "Patient", "ok") is None
    assert "tag" not in orjson.loads(repository.read(consent, "Patient", "ok").content)["meta"]


def test_delete_consent_data_removes_only_that_consent(walter, make_consent):
    other = make_consent()
    load_resources(other, [SMILE.read_bytes(), b"{broken"], source=source_for())
    load_resources(walter, [b"{broken"], source=source_for())
    removed = delete_consent_data(walter.pk)
    assert removed["resources"] == len(resources_in(WALTER)) and removed["quarantined"] == 1
    assert repository.counts(walter) == {} and repository.quarantine_count(walter) == 0
    assert sum(repository.counts(other).values()) == len(resources_in(SMILE))
    assert repository.quarantine_count(other) == 1


def test_load_bundle_command(consent, capsys):
    call_command("load_bundle", "--consent", str(consent.pk), str(WALTER), str(SMILE))
    out = capsys.readouterr().out
    assert f"received {len(resources_in(WALTER)) + len(resources_in(SMILE))}" in out
    assert "quarantined 0" in out
    with pytest.raises(CommandError):
        call_command("load_bundle", "--consent", str(consent.pk), "/nonexistent.json")
    with pytest.raises(CommandError):
        call_command("load_bundle", "--consent", "not-a-uuid", str(WALTER))


def test_quarantine_and_outcomes_are_visible_in_the_admin(consent, make_consent, client):
    eob = FHIR_DATA / "bfd-v2/eobReadCarrier.json"  # as CMS wrote it: lastUpdated blanked
    load_resources(consent, [eob.read_bytes(), b"[1]"], source=source_for())
    other = make_consent()
    load_resources(other, [eob.read_bytes()], source=source_for())
    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    listing = client.get("/admin/fhircache/quarantinedresource/")
    assert listing.status_code == 200 and b"not a JSON object" in listing.content
    row = QuarantinedResource.objects.get(consent=consent)
    detail = client.get(f"/admin/fhircache/quarantinedresource/{row.pk}/change/")
    assert detail.status_code == 200 and b"OperationOutcome" in detail.content
    # the stored outcomes, listed per consent
    outcomes = client.get(f"/admin/fhircache/storedoutcome/?consent__id__exact={consent.pk}")
    assert outcomes.status_code == 200
    assert b"meta.lastUpdated" in outcomes.content and b"1 stored outcome" in outcomes.content
    stored = StoredOutcome.objects.get(consent=consent)
    detail = client.get(f"/admin/fhircache/storedoutcome/{stored.pk}/change/")
    assert detail.status_code == 200 and b"OperationOutcome" in detail.content


def test_unresolvable_and_dangling_references_are_reported(consent):
    page = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": "o1",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": "https://elsewhere.example/fhir/Patient/1"},
                    "performer": [{"reference": "Practitioner/never-sent"}],
                }
            },
        ],
    }
    result = load_resources(consent, [orjson.dumps(page)], source=source_for(), full_sync=True)
    assert result.unresolved == [("Observation/o1", "https://elsewhere.example/fhir/Patient/1")]
    assert result.dangling == [("Observation/o1", "Practitioner/never-sent")]


def test_deleting_a_consent_row_cascades_to_its_cache(walter):
    load_resources(walter, [b"{broken"], source=source_for())
    consent_id = walter.pk
    walter.delete()
    assert repository.counts(consent_id) == {}
    assert repository.quarantine_count(consent_id) == 0
