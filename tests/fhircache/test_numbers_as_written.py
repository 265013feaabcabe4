"""Numbers as written: every number token goes in through the loader and comes
out of the repository and the FHIR API byte for byte, whatever orjson would
have made of it."""

from __future__ import annotations

import random
import re

import orjson
import pytest

from fhircache import repository
from fhircache.loader import load_resources
from fhircache.normalize.parse import Parsed, numbers_survive, parse_page
from tests.fhircache.api.conftest import issue_token, make_consent
from tests.fhircache.conftest import source_for

# what orjson alone would turn into 100.0, 0.1, 1000.0, 150.0, 1.2345678901234568e+29, ...
CRAFTED = [
    "100.00",
    "0.10",
    "1e3",
    "1.50e2",
    "-0.0",
    "123456789012345678901234567890",
    "1234567890.12345678901234567890",
    "-0",
    "0.0000001",
    "8E+1",
]
_NUMBER = re.compile(rb'"value":(-?[0-9][0-9.eE+-]*)')


def _observation(rid: str, token: str) -> bytes:
    return (
        b'{"resourceType": "Observation", "id": "' + rid.encode() + b'", "status": "final",'
        b' "code": {"text": "crafted"},'
        b' "valueQuantity": {"value": ' + token.encode() + b', "unit": "USD"}}'
    )


def _page_of(resources: list[bytes]) -> bytes:
    entries = b", ".join(b'{"resource": ' + r + b"}" for r in resources)
    return b'{"resourceType": "Bundle", "type": "searchset", "entry": [' + entries + b"]}"


def _tokens(content: bytes) -> list[bytes]:
    return _NUMBER.findall(content)


@pytest.fixture
def crafted_consent(db):
    consent = make_consent(patient_id="p1")
    page = _page_of([_observation(f"n{i}", t) for i, t in enumerate(CRAFTED)])
    result = load_resources(consent, [page], source=source_for())
    assert result.created == len(CRAFTED)
    return consent


def test_crafted_numbers_come_out_of_the_repository_as_written(crafted_consent):
    for i, token in enumerate(CRAFTED):
        row = repository.read(crafted_consent, "Observation", f"n{i}")
        assert _tokens(row.content) == [token.encode()], token


def test_crafted_numbers_come_out_of_the_fhir_api_as_written(crafted_consent, client):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issue_token(crafted_consent)}"}
    for i, token in enumerate(CRAFTED):
        response = client.get(f"/fhir/Observation/n{i}", **auth)
        assert response.status_code == 200
        assert _tokens(response.content) == [token.encode()], token
    search = client.get("/fhir/Observation?_count=50", **auth)
    assert search.status_code == 200
    assert sorted(_tokens(search.content)) == sorted(t.encode() for t in CRAFTED)


def test_validation_reads_the_values_of_exact_numbers(consent):
    """A valid decimal written `100.00` is valid; a 30-digit valueInteger is
    stored as written but flagged (FHIR integers are 32-bit)."""
    integer = (
        b'{"resourceType": "Observation", "id": "big", "status": "final", "code": {"text": "x"},'
        b' "valueInteger": 123456789012345678901234567890}'
    )
    page = _page_of([_observation("money", "100.00"), integer])
    result = load_resources(consent, [page], source=source_for())
    assert (result.created, result.flagged, result.quarantined) == (2, 1, 0)
    assert repository.read_outcome(consent, "Observation", "money") is None
    outcome = repository.read_outcome(consent, "Observation", "big")
    assert outcome["issue"][0]["expression"] == ["Observation.valueInteger"]
    assert b'"valueInteger":123456789012345678901234567890,' in (
        repository.read(consent, "Observation", "big").content
    )


def test_loose_resources_and_escaped_text_keep_numbers_and_characters(consent):
    loose = _observation("loose", "2.50").replace(b'"crafted"', b'"caf\\u00e9 \\/ ok"')
    load_resources(consent, [loose], source=source_for())
    stored = repository.read(consent, "Observation", "loose").content
    assert _tokens(stored) == [b"2.50"]
    assert orjson.loads(stored)["code"]["text"] == "café / ok"


def test_a_page_its_caller_parsed_is_loaded_as_its_bytes_are(crafted_consent):
    """`Parsed(raw, value)` (the ETL's pages): the caller's parse is taken, numbers still
    come from the text — the same rows as the bytes alone gave, unchanged."""
    page = _page_of([_observation(f"n{i}", t) for i, t in enumerate(CRAFTED)])
    again = load_resources(crafted_consent, [Parsed(page, orjson.loads(page))], source=source_for())
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(CRAFTED))
    for i, token in enumerate(CRAFTED):
        row = repository.read(crafted_consent, "Observation", f"n{i}")
        assert _tokens(row.content) == [token.encode()], token


def test_a_reload_of_exact_numbers_changes_nothing(crafted_consent):
    page = _page_of([_observation(f"n{i}", t) for i, t in enumerate(CRAFTED)])
    again = load_resources(crafted_consent, [page], source=source_for())
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(CRAFTED))


@pytest.mark.parametrize(
    ("data", "survive"),
    [
        (b'{"a": 1.0, "b": [1, 2, -0.0, 0.5, 1e+16, 0.00001]}', True),
        (b'{"a": 100.00}', False),
        (b'{"a": [1, 0.10]}', False),
        (b'{"a": 1e3}', False),
        (b'{"a": -0}', False),
        (b'{"a": 18446744073709551616}', False),
        (b'{"a": "100.00", "b": "1e3"}', True),  # strings are not numbers
        (b'{"a": "caf\\u00e9", "b": 1}', False),  # not vouched for: parsed exactly
    ],
)
def test_which_pages_need_the_exact_parse(data, survive):
    assert numbers_survive(data, orjson.loads(data)) is survive
    plain, twin = parse_page(data)
    assert (twin is None) is survive
    assert plain == orjson.loads(data)


def test_the_cheap_check_never_misses_a_changed_token():
    """Random pages of random number tokens: a page the check passes writes
    back every token as written."""
    rng = random.Random(5)
    digits = "0123456789"
    for _ in range(2000):
        tokens = []
        for _ in range(rng.randrange(1, 5)):
            token = rng.choice(["", "-"]) + rng.choice(["0", rng.choice("123456789")])
            token += "".join(rng.choice(digits) for _ in range(rng.randrange(0, 22)))[
                : 0 if token.lstrip("-") == "0" else None
            ]
            if rng.random() < 0.6:
                token += "." + "".join(rng.choice(digits) for _ in range(rng.randrange(1, 22)))
            if rng.random() < 0.2:
                token += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randrange(0, 30))
            tokens.append(token)
        data = ('{"v": [' + ", ".join(tokens) + '], "s": "1.50"}').encode()
        value = orjson.loads(data)
        round_trips = all(orjson.dumps(orjson.loads(t)) == t.encode() for t in tokens)
        assert numbers_survive(data, value) is round_trips, data
        plain, twin = parse_page(data)
        assert re.findall(rb"[-0-9.eE+]+", orjson.dumps((twin or plain)["v"])) == [
            t.encode() for t in tokens
        ]
