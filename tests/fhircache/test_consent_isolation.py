"""A cast of two consents holding the same resource types and ids: each one
sees, counts, updates and deletes only its own rows, through every repository
function (read, read_many, search with each criterion kind and paging, count,
counts, dangling_references, delete_absent, delete_consent_data, quarantine)."""

from __future__ import annotations

import orjson
import pytest

from fhircache import criteria as c
from fhircache import repository
from fhircache.loader import load_resources
from tests.fhircache.conftest import source_for

SYSTEM = "http://loinc.org"


def _observation(rid: str, code: str, **extra) -> dict:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": SYSTEM, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-01",
        **extra,
    }


def _bundle(*resources: dict) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        }
    )


ALPHA = _bundle(
    {"resourceType": "Patient", "id": "p1", "name": [{"family": "Alpha"}]},
    _observation("o1", "alpha-code"),
    _observation("o2", "alpha-code", performer=[{"reference": "Practitioner/pr1"}]),
)
BETA = _bundle(
    {"resourceType": "Patient", "id": "p1", "name": [{"family": "Beta"}]},
    _observation("o1", "beta-code", effectiveDateTime="2019-01-01"),
    _observation("o3", "beta-code"),
    {"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Beta"}]},
)


@pytest.fixture
def cast(make_consent):
    alpha, beta = make_consent(), make_consent()
    load_resources(alpha, [ALPHA, b"{broken"], source=source_for())
    load_resources(beta, [BETA, b"{broken"], source=source_for())
    return alpha, beta


def _families(rows) -> list[str]:
    return [orjson.loads(r.content)["name"][0]["family"] for r in rows]


def _ids(page) -> list[str]:
    return [r.key for r in page.rows]


def test_reads_see_only_the_own_consent(cast):
    alpha, beta = cast
    assert _families([repository.read(alpha, "Patient", "p1")]) == ["Alpha"]
    assert _families([repository.read(beta, "Patient", "p1")]) == ["Beta"]
    assert repository.read(alpha, "Practitioner", "pr1") is None
    rows = repository.read_many(
        alpha, ["Patient/p1", "Practitioner/pr1", "Observation/o3", "Observation/o1"]
    )
    assert [r.key for r in rows] == ["Observation/o1", "Patient/p1"]
    assert _families([r for r in rows if r.resource_type == "Patient"]) == ["Alpha"]


def test_search_and_counts_see_only_the_own_consent(cast):
    alpha, beta = cast
    assert repository.counts(alpha) == {"Observation": 2, "Patient": 1}
    assert repository.counts(beta) == {"Observation": 2, "Patient": 1, "Practitioner": 1}
    by_patient = [c.Reference("patient", ("Patient/p1",))]
    assert _ids(repository.search(alpha, "Observation", by_patient)) == [
        "Observation/o1",
        "Observation/o2",
    ]
    assert repository.count(alpha, "Observation", by_patient) == 2
    assert repository.count(alpha, None, [c.Token("code", ((SYSTEM, "beta-code"),))]) == 0
    assert repository.count(alpha, None, [c.Token("code", ((None, "alpha-code"),))]) == 2
    assert repository.count(alpha, "Patient", [c.String("name", ("beta",))]) == 0
    assert repository.count(alpha, None, [c.Id(("o3", "pr1"))]) == 0
    old = [c.Date("date", "lt", "2020-01-01T00:00:00.000000Z", "2020-01-01T23:59:59.999999Z")]
    assert repository.count(alpha, "Observation", old) == 0
    assert repository.count(beta, "Observation", old) == 1
    recent = [c.LastUpdated("ge", "2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z")]
    assert repository.count(alpha, None, recent) == 3
    # paging past the last row of one consent never continues into the other's
    first = repository.search(alpha, None, limit=2)
    assert first.next_after is not None
    rest = repository.search(alpha, None, after=first.next_after, limit=10)
    assert _ids(first) + _ids(rest) == ["Observation/o1", "Observation/o2", "Patient/p1"]


def test_dangling_references_do_not_resolve_into_another_consent(cast):
    alpha, beta = cast
    assert repository.dangling_references(alpha) == [("Observation/o2", "Practitioner/pr1")]
    assert repository.dangling_references(beta) == []


def test_updates_and_deletes_touch_only_the_own_consent(cast):
    alpha, beta = cast
    changed = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Alpha II"}]}
    result = load_resources(alpha, [orjson.dumps(changed)], source=source_for())
    assert (result.created, result.updated) == (0, 1)
    assert repository.read(alpha, "Patient", "p1").version == 2
    assert repository.read(beta, "Patient", "p1").version == 1

    assert repository.delete_absent(alpha, [("Patient", "p1")]) == 2
    assert repository.counts(alpha) == {"Patient": 1}
    assert repository.counts(beta) == {"Observation": 2, "Patient": 1, "Practitioner": 1}

    assert repository.delete_consent_data(alpha) == {
        "resources": 1,
        "outcomes": 0,
        "quarantined": 1,
    }
    assert repository.counts(alpha) == {} and repository.quarantine_count(alpha) == 0
    assert sum(repository.counts(beta).values()) == 4
    assert repository.quarantine_count(beta) == 1
    assert _families([repository.read(beta, "Patient", "p1")]) == ["Beta"]
