"""Isolation through the FHIR API: generated queries never reveal another consent's data.

Two consents of different apps, for patients of the same payer, hold resources
with identical types and ids (and the other consent has a few ids of its own).
Every resource of the other consent carries a marker. `hypothesis` generates
reads, searches (with `_include`, `_revinclude`, `_id`, references), `$everything`,
batches of those, and paging links that are followed, tampered with or taken
from the other consent; no answer to the first consent's token may hold the
marker, be a 500, or read anything through a foreign link.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import orjson
import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.models import App
from fhircache.loader import load_resources
from tests.fhircache.api.conftest import issue_token, make_consent
from tests.fhircache.conftest import source_for

OWN, OTHER = "ALPHA-OWN-MARK", "BETA-SECRET-MARK"
SHARED_IDS = {"Observation": ["o1", "o2"], "Practitioner": ["pr1"], "Organization": ["org1"]}
TYPES = [
    "Patient",
    "Observation",
    "ExplanationOfBenefit",
    "Coverage",
    "Practitioner",
    "Organization",
]
IDS = ["p1", "o1", "o2", "o3", "pr1", "pr2", "org1", "e1", "cov1", "nope"]


def _records(mark: str, extra: bool) -> list[dict]:
    """Every record carries `mark` in a meta.tag; queries name the identifier and
    code values (echoed in self links), never the mark itself."""
    ident = [{"system": "urn:test", "value": mark.lower()[:5]}]
    patient_ref = {"reference": "Patient/p1"}
    records = [
        {"resourceType": "Patient", "id": "p1", "identifier": ident, "name": [{"family": mark}]},
        {"resourceType": "Practitioner", "id": "pr1", "identifier": ident},
        {"resourceType": "Organization", "id": "org1", "identifier": ident},
        {
            "resourceType": "Coverage",
            "id": "cov1",
            "identifier": ident,
            "status": "active",
            "beneficiary": patient_ref,
            "payor": [{"reference": "Organization/org1"}],
        },
        {
            "resourceType": "ExplanationOfBenefit",
            "id": "e1",
            "identifier": ident,
            "status": "active",
            "type": {"coding": [{"system": "urn:t", "code": "x"}]},
            "use": "claim",
            "patient": patient_ref,
            "created": "2024-01-01",
            "insurer": {"reference": "Organization/org1"},
            "provider": {"reference": "Practitioner/pr1"},
            "outcome": "complete",
            "insurance": [{"focal": True, "coverage": {"reference": "Coverage/cov1"}}],
        },
    ]
    for rid in ["o1", "o2"] + (["o3"] if extra else []):
        records.append(
            {
                "resourceType": "Observation",
                "id": rid,
                "identifier": ident,
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": mark.lower()[:5]}]},
                "subject": patient_ref,
                "effectiveDateTime": "2024-03-01",
                "performer": [{"reference": "Practitioner/pr2" if extra else "Practitioner/pr1"}],
            }
        )
    if extra:
        records.append({"resourceType": "Practitioner", "id": "pr2", "identifier": ident})
    for record in records:
        record["meta"] = {"tag": [{"system": "urn:test:mark", "code": mark}]}
    return records


def _bundle(records: list[dict]) -> bytes:
    entries = [{"resource": r} for r in records]
    return orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


@pytest.fixture(scope="module")
def cast(django_db_setup, django_db_blocker):
    """(own token, other token) for two consents at one payer, of two apps."""
    with django_db_blocker.unblock():
        own = make_consent(patient_id="p1")
        other = make_consent(
            patient_id="p1", app=App.objects.create(name="Other app", client_id="iso-other")
        )
        other.payer = own.payer
        other.save(update_fields=["payer"])
        load_resources(own, [_bundle(_records(OWN, extra=False))], source=source_for())
        load_resources(other, [_bundle(_records(OTHER, extra=True))], source=source_for())
        tokens = issue_token(own), issue_token(other)
    yield tokens
    with django_db_blocker.unblock():
        from fhircache import repository

        for consent in (own, other):
            repository.delete_consent_data(consent)


def _get(path: str, token: str):
    return Client().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def _post(path: str, token: str, body: dict):
    return Client().post(
        path,
        data=orjson.dumps(body),
        content_type="application/fhir+json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def _next_links(response) -> list[str]:
    try:
        bundle = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return []
    found = [link["url"] for link in bundle.get("link", []) if link.get("relation") != "self"]
    for entry in bundle.get("entry", []):  # links of batch entries' Bundles
        inner = entry.get("resource", {})
        found += [link["url"] for link in inner.get("link", []) if link.get("relation") != "self"]
    return [urlsplit(u).path + "?" + urlsplit(u).query for u in found]


# --- generated requests -------------------------------------------------------------

types = st.sampled_from(TYPES)
ids = st.sampled_from(IDS)
reads = st.builds(lambda t, i: f"{t}/{i}", types, ids)
includes = st.sampled_from(
    [
        "_include=ExplanationOfBenefit:*",
        "_include=ExplanationOfBenefit:provider",
        "_include=ExplanationOfBenefit:coverage",
        "_include=Coverage:payor",
        "_include=Observation:patient",
        "_include=*",
        "_include:iterate=Coverage:payor",
        "_revinclude=Observation:patient",
        "_revinclude=ExplanationOfBenefit:patient",
        "_revinclude=Provenance:target",
        "_revinclude=*:*",
    ]
)
criteria = st.sampled_from(
    [
        "",
        "patient=p1",
        "patient=Patient/p1",
        "_id=o1,o3,pr2,p1",
        "code=http://loinc.org|beta-",
        "identifier=beta-",
        "identifier=urn:test|beta-",
        "_count=1",
        "_count=2",
        "_lastUpdated=gt2000-01-01",
    ]
)
searches = st.builds(
    lambda t, cs, inc: f"{t}?" + "&".join(x for x in [*cs, *inc] if x),
    types,
    st.lists(criteria, max_size=3),
    st.lists(includes, max_size=2),
)
everythings = st.builds(
    lambda i, q: f"Patient/{i}/$everything" + (f"?{q}" if q else ""),
    st.sampled_from(["p1", "nope"]),
    st.sampled_from(["", "_count=1", "_count=3", "_type=Observation,Practitioner", "_since=2000"]),
)
single = st.one_of(reads, searches, everythings)
requests = st.one_of(
    single.map(lambda p: ("GET", p)),
    st.lists(single, min_size=1, max_size=4).map(lambda ps: ("BATCH", ps)),
)


def _tampered(link: str, how: int) -> str:
    path, _, query = link.partition("?")
    name, _, value = query.partition("=")
    if how == 0:  # flip one character of the signed cursor
        i = len(value) // 2
        value = value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1 :]
    elif how == 1:  # same cursor on another route
        path = "/fhir/Observation" if not path.endswith("Observation") else "/fhir/Patient"
    else:  # an unsigned, hand-made cursor
        value = quote('{"c":"x","t":"Observation","q":[],"p":null}')
    return f"{path}?{name}={value}"


@pytest.mark.django_db
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests, follow=st.integers(0, 2), tamper=st.integers(0, 2))
def test_no_query_reveals_the_other_consent(cast, request, follow, tamper):
    own, other = cast
    kind, what = request
    if kind == "GET":
        answers = [_get(f"/fhir/{what}", own)]
        foreign = _get(f"/fhir/{what}", other)
    else:
        body = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": p}} for p in what],
        }
        answers = [_post("/fhir", own, body)]
        foreign = _post("/fhir", other, body)
    # follow our own paging links, then tamper with them
    for _ in range(follow):
        links = _next_links(answers[-1])
        if not links:
            break
        answers.append(_get(links[0], own))
    for link in _next_links(answers[0])[:1]:
        tampered = _get(_tampered(link, tamper), own)
        assert tampered.status_code == 400, tampered.content
        answers.append(tampered)
    # the other consent's links are refused, whatever they continue
    for link in _next_links(foreign):
        stolen = _get(link, own)
        assert stolen.status_code == 400, (link, stolen.content)
        answers.append(stolen)

    for answer in answers:
        assert answer.status_code < 500, answer.content
        assert OTHER.encode() not in answer.content, (request, answer.content[:500])


@pytest.mark.django_db
def test_the_cast_is_what_it_seems(cast):
    """The property above is not vacuous: each token sees its own marker."""
    own, other = cast
    assert OWN.encode() in _get("/fhir/Observation/o1", own).content
    assert OTHER.encode() in _get("/fhir/Observation/o1", other).content
    assert _get("/fhir/Observation/o3", own).status_code == 404
    assert OTHER.encode() in _get("/fhir/Observation/o3", other).content
    everything = _get("/fhir/Patient/p1/$everything", other).content
    assert b"pr2" in everything and OTHER.encode() in everything
    found = _get("/fhir/ExplanationOfBenefit?identifier=beta-", other).content
    assert OTHER.encode() in found
    assert OTHER.encode() not in _get("/fhir/ExplanationOfBenefit?identifier=beta-", own).content
