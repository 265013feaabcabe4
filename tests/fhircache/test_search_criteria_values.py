"""Search values are data, never SQL: quotes, LIKE wildcards, backslashes, tabs,
NUL characters and very long values match literally (or match nothing)."""

from __future__ import annotations

import orjson
import pytest

from fhircache import criteria as c
from fhircache import repository
from fhircache.loader import load_resources
from tests.fhircache.conftest import source_for

SYSTEM = "http://example.org/ids"
NAMES = ["50%_off", "O'Brien", "back\\slash", "plain"]


@pytest.fixture
def people(consent):
    patients = [
        {
            "resourceType": "Patient",
            "id": f"p{i}",
            "name": [{"family": name}],
            "identifier": [{"system": SYSTEM, "value": name}],
        }
        for i, name in enumerate(NAMES)
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": []}
    bundle["entry"] = [{"resource": p} for p in patients]
    assert load_resources(consent, [orjson.dumps(bundle)], source=source_for()).created == 4
    return consent


def _ids(consent, criterion) -> list[str]:
    return [r.resource_id for r in repository.search(consent, "Patient", [criterion]).rows]


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        ("50%", "start", ["p0"]),
        ("%", "contains", ["p0"]),
        ("_", "contains", ["p0"]),
        ("5_%", "start", []),
        ("o'brien", "exact", ["p1"]),
        ("back\\", "start", ["p2"]),
        ("\\", "contains", ["p2"]),
        ("x' OR '1'='1", "contains", []),
        ("plain\x00", "start", []),
        ("p" * 100_000, "start", []),
    ],
)
def test_string_values_match_literally(people, value, mode, expected):
    assert _ids(people, c.String("family", (value,), mode)) == expected


@pytest.mark.parametrize(
    ("system", "code", "expected"),
    [
        (SYSTEM, "50%_off", ["p0"]),
        (None, "50%", []),
        (None, "O'Brien", ["p1"]),
        (SYSTEM, "back\\slash", ["p2"]),
        (None, "plain'); DELETE FROM fhircache_resource; --", []),
        (None, "plain\x00", []),
        ("\x00", None, []),
        (None, "plain\tx", []),
        (None, "x" * 100_000, []),
    ],
)
def test_token_values_match_literally(people, system, code, expected):
    assert _ids(people, c.Token("identifier", ((system, code),))) == expected
    assert repository.count(people, "Patient") == 4


def test_nul_in_any_criterion_matches_nothing(people):
    for criterion in [
        c.Id(("p0\x00",)),
        c.Reference("general-practitioner", ("Practitioner/\x00",)),
        c.Token("identifier\x00", ((None, "plain"),)),
        c.String("family\x00", ("plain",)),
    ]:
        assert _ids(people, criterion) == []
        assert repository.count(people, "Patient", [criterion]) == 0
    assert _ids(people, c.Id(("p0\x00", "p1"))) == ["p1"]
    assert _ids(people, c.Token("identifier", ((None, "plain\x00"), (SYSTEM, "plain")))) == ["p3"]
    assert repository.count(people, "Patient\x00") == 0
    assert repository.read(people, "Patient", "p0\x00") is None
    assert repository.read_many(people, ["Patient/p0\x00", "Patient/p1"])[0].resource_id == "p1"
