"""`$everything`, `$validate` and `$expunge` through HTTP (Django's client).

Expected results come from the hand-built records below: what references the
patient, and what those reference, is read off the fixture, not the code.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson
import pytest
from django.test import Client

from consent.models import Consent
from consent.verification import verify_purged
from fhircache import repository
from fhircache.access_log import DataAccess
from fhircache.loader import load_resources
from tests.fhircache.api.conftest import issue_token, make_consent
from tests.fhircache.conftest import source_for

pytestmark = pytest.mark.django_db

P = "p1"
RECORDS = [
    {"resourceType": "Patient", "id": P, "birthDate": "1970-01-01"},
    {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": f"Patient/{P}"},
        "effectiveDateTime": "2020-05-01",
        "performer": [{"reference": "Practitioner/pr1"}],
    },
    {
        "resourceType": "Observation",
        "id": "o2",
        "status": "final",
        "code": {"text": "y"},
        "subject": {"reference": f"Patient/{P}"},
        "effectiveDateTime": "2023-01-01",
    },
    {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": f"Patient/{P}"},
        "serviceProvider": {"reference": "Organization/org1"},
    },
    {"resourceType": "Practitioner", "id": "pr1"},
    {"resourceType": "Organization", "id": "org1"},
    # neither in the compartment nor referenced from it
    {"resourceType": "Organization", "id": "org2"},
    {
        "resourceType": "Observation",
        "id": "o9",
        "status": "final",
        "code": {"text": "z"},
        "subject": {"reference": "Patient/someone-else"},
    },
]
EVERYTHING = {
    "Patient/p1",
    "Observation/o1",
    "Observation/o2",
    "Encounter/e1",
    "Practitioner/pr1",
    "Organization/org1",
}


def _bundle(records) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in records],
        }
    )


@pytest.fixture
def holder():
    consent = make_consent(patient_id=P)
    load_resources(consent, [_bundle(RECORDS)], source=source_for())
    return consent, issue_token(consent)


def _call(method: str, path: str, token: str, body=None, **headers):
    client = Client()
    headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if method == "GET":
        return client.get(path, **headers)
    data = orjson.dumps(body) if isinstance(body, dict) else (body or b"")
    return client.post(path, data=data, content_type="application/fhir+json", **headers)


def _walk(first: str, token: str) -> tuple[list[str], int]:
    keys, pages, url = [], 0, first
    while url:
        response = _call("GET", url, token)
        assert response.status_code == 200, response.content
        bundle = orjson.loads(response.content)
        pages += 1
        keys += [
            f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in bundle.get("entry", [])
            if e["search"]["mode"] != "outcome"
        ]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = None
        if nxt:
            parts = urlsplit(nxt[0])
            url = f"{parts.path}?{parts.query}"
    return keys, pages


def test_everything_is_the_compartment_and_what_it_references_each_once(holder):
    consent, token = holder
    keys, pages = _walk(f"/fhir/Patient/{P}/$everything?_count=2", token)
    assert sorted(keys) == sorted(EVERYTHING) and len(keys) == len(set(keys))
    assert pages == 3
    rows = DataAccess.objects.filter(consent=consent, interaction="$everything")
    assert sorted(r.result_count for r in rows) == [2, 2, 2]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("_type=Observation", {"Observation/o1", "Observation/o2"}),
        (
            "_type=Observation,Practitioner",
            {"Observation/o1", "Observation/o2", "Practitioner/pr1"},
        ),
        # care dates: o2 (2023) leaves, and so does nothing else (no dates, or o1's 2020)
        ("start=2020-01-01&end=2021-12-31", EVERYTHING - {"Observation/o2"}),
        # o1 out: the practitioner only it references goes with it
        ("start=2022", EVERYTHING - {"Observation/o1", "Practitioner/pr1"}),
        ("_since=2999-01-01T00:00:00Z", set()),
        ("_since=2000-01-01", EVERYTHING),
    ],
)
def test_everything_parameters(holder, query, expected):
    _, token = holder
    keys, _ = _walk(f"/fhir/Patient/{P}/$everything?{query}", token)
    assert set(keys) == expected


@pytest.mark.parametrize(
    "query",
    ["_count=abc", "_count=0", "_type=NotAType", "_type=observation", "start=2020-13", "bogus=1"],
)
def test_everything_refuses_bad_parameters(holder, query):
    _, token = holder
    response = _call("GET", f"/fhir/Patient/{P}/$everything?{query}", token)
    assert response.status_code == 400
    assert orjson.loads(response.content)["resourceType"] == "OperationOutcome"


def test_everything_links_are_bound_to_consent_and_untamperable(holder):
    _, token = holder
    first = orjson.loads(_call("GET", f"/fhir/Patient/{P}/$everything?_count=1", token).content)
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    path = urlsplit(next_url).path + "?" + urlsplit(next_url).query
    assert _call("GET", path, token).status_code == 200
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert _call("GET", tampered, token).status_code == 400
    other = make_consent(patient_id=P)
    load_resources(other, [_bundle(RECORDS)], source=source_for())
    assert _call("GET", path, issue_token(other)).status_code == 400
    assert _call("GET", "/fhir/Patient/someone-else/$everything", token).status_code == 404


def test_everything_keeps_to_the_types_the_scopes_allow(holder):
    consent, _ = holder
    token = issue_token(consent, "launch/patient patient/Patient.rs patient/Observation.rs")
    keys, _ = _walk(f"/fhir/Patient/{P}/$everything", token)
    assert set(keys) == {"Patient/p1", "Observation/o1", "Observation/o2"}


def _batch(*requests: dict, kind: str = "batch") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": [{"request": r} for r in requests]}


# --- $validate -------------------------------------------------------------------

BROKEN_EOB = {
    "resourceType": "ExplanationOfBenefit",
    "status": "active",
    "item": [{"sequence": "first"}],
    "unknownElement": 1,
}


def test_validate_reports_each_problem_with_its_fhirpath(holder):
    _, token = holder
    response = _call("POST", "/fhir/ExplanationOfBenefit/$validate", token, BROKEN_EOB)
    assert response.status_code == 200
    issues = orjson.loads(response.content)["issue"]
    assert len(issues) > 3 and all(i["severity"] == "error" for i in issues)
    where = {e for i in issues for e in i.get("expression", [])}
    assert "ExplanationOfBenefit.item[0].sequence" in where
    assert "ExplanationOfBenefit.unknownElement" in where
    assert {"ExplanationOfBenefit.patient", "ExplanationOfBenefit.insurer"} <= where


def test_validate_accepts_a_valid_resource_and_parameters(holder):
    _, token = holder
    patient = {"resourceType": "Patient", "id": "x", "gender": "female"}
    plain = _call("POST", "/fhir/Patient/$validate", token, patient)
    wrapped = _call(
        "POST",
        "/fhir/Patient/$validate",
        token,
        {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient}]},
    )
    for response in (plain, wrapped):
        assert response.status_code == 200
        (only,) = orjson.loads(response.content)["issue"]
        assert only["severity"] == "information"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/fhir/Patient/$validate", b"{not json"),
        ("/fhir/Patient/$validate", b"[1]"),
        ("/fhir/Patient/$validate", {"resourceType": "Observation"}),
        ("/fhir/Patient/$validate", b""),
        ("/fhir", b"{broken"),
        ("/fhir", {"resourceType": "Patient"}),
        ("/fhir", _batch({"method": "GET", "url": "Patient/p1"}, kind="transaction")),
        ("/fhir", {"resourceType": "Bundle", "type": "batch", "entry": {"x": 1}}),
    ],
)
def test_validate_and_batch_refuse_malformed_bodies(holder, path, body):
    _, token = holder
    response = _call("POST", path, token, body)
    assert response.status_code == 400
    assert orjson.loads(response.content)["resourceType"] == "OperationOutcome"


def test_validate_stored_answers_the_stored_outcome(holder):
    consent, token = holder
    for key in ("Patient/p1", "Observation/o1"):
        response = _call("POST", f"/fhir/{key}/$validate", token)
        assert response.status_code == 200
        stored = repository.read_outcome(consent, *key.split("/"))
        body = orjson.loads(response.content)
        if stored is None:
            assert [i["severity"] for i in body["issue"]] == ["information"]
        else:
            assert body == stored
    assert _call("GET", "/fhir/Patient/p1/$validate", token).status_code == 200
    missing = _call("POST", "/fhir/Observation/o9x/$validate", token)
    assert missing.status_code == 404


# --- $expunge ---------------------------------------------------------------------


def test_expunge_ends_the_consent_purges_and_kills_the_token(holder):
    consent, token = holder
    assert _call("POST", "/fhir/Patient/not-mine/$expunge", token).status_code == 404
    assert Consent.objects.get(pk=consent.pk).status == Consent.Status.ACTIVE

    response = _call("POST", f"/fhir/Patient/{P}/$expunge", token)
    assert response.status_code == 200, response.content
    assert orjson.loads(response.content)["issue"][0]["severity"] == "information"
    consent.refresh_from_db()
    assert consent.status == Consent.Status.REVOKED
    assert repository.counts(consent) == {}
    after = _call("GET", f"/fhir/Patient/{P}", token)
    assert after.status_code == 401
    assert "invalid_token" in after["WWW-Authenticate"]
    assert DataAccess.objects.filter(consent=consent, interaction="$expunge", status=200).exists()
    # nothing of the consent is left but its audit, which holds no PHI and stays on purpose
    proof = verify_purged(consent)
    assert proof.clean, proof.as_json()
    assert "fhircache.DataAccess.consent" in [r["model"] for r in proof.retained]


def test_expunge_works_while_the_first_sync_runs(holder):
    consent, token = holder
    Consent.objects.filter(pk=consent.pk).update(data_state="syncing")
    assert _call("GET", f"/fhir/Patient/{P}", token).status_code == 429
    assert _call("POST", f"/fhir/Patient/{P}/$expunge", token).status_code == 200
    assert repository.counts(consent) == {}


# --- batch ------------------------------------------------------------------------


def test_batch_answers_each_entry_as_if_alone(holder, settings):
    consent, token = holder
    alone = _call("GET", "/fhir/Observation?patient=Patient/p1&_count=1", token)
    response = _call(
        "POST",
        "/fhir",
        token,
        _batch(
            {"method": "GET", "url": "Patient/p1"},
            {"method": "GET", "url": f"{settings.PUBLIC_BASE_URL}/fhir/Observation/o1"},
            {"method": "GET", "url": "Observation/nope"},
            {"method": "GET", "url": "Observation?patient=Patient/p1&_count=1"},
            {"method": "GET", "url": "Observation?no-such-param=1"},
            {"method": "GET", "url": f"Patient/{P}/$everything?_type=Practitioner"},
            {"method": "POST", "url": "Patient"},
            {"method": "GET", "url": "https://elsewhere.example/fhir/Patient/p1"},
            {"method": "GET", "url": "Nonsense/x/y/z"},
        ),
    )
    assert response.status_code == 200, response.content
    bundle = orjson.loads(response.content)
    assert bundle["type"] == "batch-response"
    statuses = [e["response"]["status"].split()[0] for e in bundle["entry"]]
    assert statuses == ["200", "200", "404", "200", "400", "200", "405", "400", "404"]
    read, absolute, missing, search, bad, everything = bundle["entry"][:6]
    assert read["resource"]["id"] == "p1" and read["response"]["etag"].startswith('W/"')
    assert absolute["resource"]["id"] == "o1"
    assert missing["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert "resource" not in missing
    expected = orjson.loads(alone.content)
    got = search["resource"]
    assert [e["resource"]["id"] for e in got["entry"]] == [
        e["resource"]["id"] for e in expected["entry"]
    ]
    assert "no-such-param" in orjson.dumps(bad["response"]["outcome"]).decode()
    assert [e["resource"]["id"] for e in everything["resource"]["entry"]] == ["pr1"]
    # audited: the batch, and each entry that reached a route
    rows = DataAccess.objects.filter(consent=consent).exclude(interaction="search-type", status=200)
    kinds = sorted((r.interaction, r.status) for r in rows)
    assert ("batch", 200) in kinds and ("read", 404) in kinds and ("$everything", 200) in kinds


def test_batch_entries_keep_to_the_scopes_and_nest_no_batch(holder):
    consent, _ = holder
    token = issue_token(consent, "launch/patient patient/Patient.rs")
    bundle = orjson.loads(
        _call(
            "POST",
            "/fhir",
            token,
            _batch({"method": "GET", "url": "Observation/o1"}, {"method": "GET", "url": "/fhir"}),
        ).content
    )
    assert [e["response"]["status"].split()[0] for e in bundle["entry"]] == ["403", "400"]
