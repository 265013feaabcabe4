"""Search on the real corpus: every parameter, prefix and modifier against expectations
computed from the raw JSON by `spec_search` (not by the code under test).

Each query pages through its results with a small `_count`: every match comes
exactly once, and `total` agrees with the number of matches.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson
import pytest

from tests.fhircache.api import spec_search as spec
from tests.fhircache.api.conftest import FILES, raw_resources

EOB = "ExplanationOfBenefit"
BUNDLES = [orjson.loads(p.read_bytes()) for p in FILES]
RAW = raw_resources(*FILES)
RESOLVE = spec.resolver(BUNDLES)
PATIENT = next(r for r in RAW if r["resourceType"] == "Patient")
BFD_PATIENT = "Patient/567834"
SYNTHEA_PRACTITIONER = next(r for r in RAW if r["resourceType"] == "Practitioner")["id"]
EOB_TYPE = "https://bluebutton.cms.gov/resources/codesystem/eob-type"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"

QUERIES: list[tuple[str, list[tuple[str, str]]]] = [
    (EOB, [("patient", BFD_PATIENT)]),
    (EOB, [("patient", PATIENT["id"])]),  # a bare id
    (EOB, [("patient:Patient", "567834")]),
    (EOB, [("type", f"{CLAIM_TYPE}|institutional")]),
    (EOB, [("type", "institutional,pharmacy")]),
    (EOB, [("type", f"{EOB_TYPE}|")]),
    (EOB, [("type", "|OUTPATIENT")]),  # no system: matches nothing here
    (EOB, [("type:not", f"{CLAIM_TYPE}|institutional")]),
    (EOB, [("identifier", "https://bluebutton.cms.gov/resources/variables/clm_id|")]),
    (EOB, [("status", "active")]),
    (EOB, [("status:missing", "false")]),
    (EOB, [("created", "ge2015")]),
    (EOB, [("created:missing", "true")]),
    (EOB, [("billable-period-start", "lt2014-06")]),
    (EOB, [("service-start-date", "2016")]),
    (EOB, [("provider", "Organization/x,Practitioner/y")]),
    (EOB, [("provider:missing", "true")]),
    (EOB, [("care-team", f"Practitioner/{SYNTHEA_PRACTITIONER}")]),
    (EOB, [("care-team", SYNTHEA_PRACTITIONER)]),
    (EOB, [("coverage", "Coverage/part-b-567834")]),
    (EOB, [("coverage:missing", "true")]),
    (EOB, [("insurer:missing", "false")]),
    (EOB, [("payee:missing", "true")]),
    (EOB, [("_id", "outpatient-1234567890,nope")]),
    (EOB, [("service-date", "ge2015-02-15"), ("service-date", "lt2016-08")]),  # AND
    ("Coverage", [("patient", BFD_PATIENT)]),
    ("Coverage", [("beneficiary", "567834")]),
    ("Coverage", [("payor:missing", "false")]),
    ("Coverage", [("status", "active")]),
    ("Patient", [("family", "arag")]),
    ("Patient", [("family:exact", "Aragón562")]),
    ("Patient", [("family:exact", "aragón562")]),  # exact: case counts
    ("Patient", [("family:exact", "Aragon562")]),  # and accents
    ("Patient", [("name:exact", "Ariadna374,Nobody")]),
    ("Patient", [("given:contains", "dna3")]),
    ("Patient", [("name", "ARIADNA")]),
    ("Patient", [("name", "nobody")]),
    ("Patient", [("gender", "female")]),
    ("Patient", [("birthdate", "2013-03")]),
    ("Patient", [("birthdate", "ne2013-03-10")]),
    ("Patient", [("identifier", "http://hl7.org/fhir/sid/us-ssn|")]),
    ("Observation", [("category", "vital-signs")]),
    ("Observation", [("code", "http://loinc.org|8302-2,http://loinc.org|29463-7")]),
    ("Observation", [("date", "le2014"), ("status", "final")]),
    ("Observation", [("patient", f"Patient/{PATIENT['id']}"), ("date", "sa2017-06-01")]),
    ("Condition", [("clinical-status", "resolved")]),
    ("Immunization", [("date", "eb2016")]),
    ("Encounter", [("class", "AMB")]),
]
# every prefix at each precision on the multi-valued service-date (periods and dates)
for _prefix in ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"):
    for _value in ("2013", "2014-02", "2016-02-14"):
        QUERIES.append((EOB, [("service-date", f"{_prefix}{_value}")]))


def expected(resource_type: str, params: list[tuple[str, str]]) -> set[str]:
    found = {
        r["id"]
        for r in RAW
        if r["resourceType"] == resource_type
        and all(spec.matches(r, name, value, RESOLVE) for name, value in params)
    }
    if resource_type == "Patient":  # the consent's own patient only
        found &= {PATIENT["id"]}
    return found


def search_all(client, auth, resource_type, params, count=4) -> tuple[list[str], set[int]]:
    """Ids of every page's matches in order, and the totals the pages reported."""
    asked = [*params, ("_count", str(count)), ("_total", "accurate")]
    response = client.get(f"/fhir/{resource_type}", asked, **auth)
    ids, totals = [], set()
    for _ in range(200):
        assert response.status_code == 200, response.content
        body = orjson.loads(response.content)
        totals.add(body.get("total"))
        ids += [
            e["resource"]["id"] for e in body.get("entry", []) if e["search"]["mode"] == "match"
        ]
        nxt = [link["url"] for link in body["link"] if link["relation"] == "next"]
        if not nxt:
            return ids, totals
        url = urlsplit(nxt[0])
        response = client.get(f"{url.path}?{url.query}", **auth)
    raise AssertionError("paging did not end")


@pytest.mark.django_db
@pytest.mark.parametrize(("resource_type", "params"), QUERIES, ids=[f"{t}?{p}" for t, p in QUERIES])
def test_search_matches_the_spec(patient_cache, client, resource_type, params):
    ids, totals = search_all(client, patient_cache.auth, resource_type, params)
    assert len(ids) == len(set(ids)), "a match came twice"
    assert set(ids) == expected(resource_type, params)
    assert totals == {len(ids)}


def test_the_corpus_exercises_the_queries():
    """Most queries must select something and not everything, or they test little."""
    selective = [
        q for q in QUERIES if 0 < len(expected(*q)) < sum(r["resourceType"] == q[0] for r in RAW)
    ]
    assert len(selective) > len(QUERIES) * 0.6
