"""The sandbox payers' FHIR API and quirks, over real HTTP with real tokens."""

from __future__ import annotations

import json
from io import StringIO
from urllib.parse import urljoin

import pytest
import requests
from django.core.management import call_command

from payers.http import payer_session
from payers.models import Payer
from payers.sandbox.render import CARIN_010_SYSTEM
from tests.payers.smart import login, redirect_uri_for

pytestmark = pytest.mark.django_db


def _session(slug: str, username: str, live_server) -> tuple[Payer, dict, requests.Session]:
    payer = Payer.objects.get(slug=slug)
    body = login(payer, username, redirect_uri_for(live_server.url))
    session = payer_session(payer)
    session.headers["Authorization"] = f"Bearer {body['access_token']}"
    return payer, body, session


def _all_pages(session: requests.Session, url: str) -> tuple[list[dict], list[str]]:
    resources, links = [], []
    while url:
        bundle = session.get(url).json()
        assert bundle["resourceType"] == "Bundle", bundle
        resources += [e["resource"] for e in bundle.get("entry", [])]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = urljoin(url, nxt[0]) if nxt else None
        if nxt:
            links.append(nxt[0])
    return resources, links


def test_offset_paging_walks_every_eob_of_the_patient(sandbox_payers, live_server):
    payer, _body, session = _session("bluebird-medicare", "bluebird-john", live_server)

    eobs, links = _all_pages(session, f"{payer.fhir_base_url}/ExplanationOfBenefit?patient=567834")

    assert len(eobs) == 8 and len({e["id"] for e in eobs}) == 8
    assert all("startIndex=" in link and link.startswith("http") for link in links)


def test_opaque_paging_with_relative_next_links(sandbox_payers, live_server):
    payer, body, session = _session("harbor-exchange", "harbor-henry", live_server)
    patient = session.get(f"{payer.fhir_base_url}/Patient").json()["entry"][0]["resource"]

    observations, links = _all_pages(
        session, f"{payer.fhir_base_url}/Observation?patient={patient['id']}"
    )

    assert "patient" not in body  # found by Patient search instead
    assert len(observations) == 206
    assert links and all(
        link.startswith("/sandbox/harbor-exchange/fhir?_getpages=") for link in links
    )


def test_everything_where_offered_and_refused_where_not(sandbox_payers, live_server):
    payer, body, session = _session("lakeshore-health", "lakeshore-walter", live_server)
    resources, _ = _all_pages(
        session, f"{payer.fhir_base_url}/Patient/{body['patient']}/$everything"
    )
    assert len(resources) == 156
    assert resources[0]["resourceType"] == "Patient"

    bluebird, b_body, b_session = _session("bluebird-medicare", "bluebird-john", live_server)
    refused = b_session.get(f"{bluebird.fhir_base_url}/Patient/{b_body['patient']}/$everything")
    assert refused.status_code == 404
    assert refused.json()["issue"][0]["code"] == "not-supported"
    unsupported = b_session.get(f"{bluebird.fhir_base_url}/Observation?patient=567834")
    assert unsupported.status_code == 404


def test_each_patient_sees_only_their_own_records(sandbox_payers, live_server):
    payer, body, session = _session("lakeshore-health", "lakeshore-walter", live_server)
    other = "964ac3e7-03ab-4b44-9a30-7406865ac850"  # lakeshore-ariadna

    assert session.get(f"{payer.fhir_base_url}/Patient/{other}").status_code == 404
    forbidden = session.get(f"{payer.fhir_base_url}/ExplanationOfBenefit?patient={other}")
    assert forbidden.status_code == 403
    assert forbidden.json()["resourceType"] == "OperationOutcome"
    no_token = requests.get(f"{payer.fhir_base_url}/Patient/{body['patient']}", timeout=10)
    assert no_token.status_code == 401


def test_rate_limit_429_with_http_date_is_absorbed_by_payer_session(sandbox_payers, live_server):
    payer, _body, session = _session("summit-mutual", "summit-one", live_server)
    raw = requests.Session()
    raw.headers["Authorization"] = session.headers["Authorization"]
    statuses = [raw.get(f"{payer.fhir_base_url}/Patient/1").status_code for _ in range(15)]
    assert statuses.count(429) == 1 and statuses[-1] == 429

    for _ in range(15):  # the 30th call is throttled again; PayerSession waits it out
        assert session.get(f"{payer.fhir_base_url}/Patient/1").status_code == 200


def test_throttled_response_carries_retry_after_seconds(sandbox_payers, live_server):
    payer, _body, session = _session("prairie-medicaid", "prairie-scot", live_server)
    raw = requests.Session()
    raw.headers["Authorization"] = session.headers["Authorization"]
    responses = [raw.get(f"{payer.fhir_base_url}/Coverage") for _ in range(9)]

    assert responses[-1].status_code == 429
    assert responses[-1].headers["Retry-After"] == "1"
    assert responses[-1].json()["issue"][0]["code"] == "throttled"


def test_legacy_profile_quirks(sandbox_payers, live_server):
    payer, _body, session = _session("summit-mutual", "summit-one", live_server)

    eobs, _ = _all_pages(session, f"{payer.fhir_base_url}/ExplanationOfBenefit?patient=1")
    text = json.dumps(eobs)

    assert len(eobs) == 3
    assert CARIN_010_SYSTEM in text
    assert '"display"' not in json.dumps(
        [c for e in eobs for c in e.get("type", {}).get("coding", [])]
    )
    assert all(e["patient"]["reference"].startswith("urn:uuid:") for e in eobs)
    assert all(e["provider"]["reference"].startswith("#") for e in eobs)
    assert all(c["id"] for e in eobs for c in e.get("contained", []))


def test_absolute_references_and_seeded_transient_errors(sandbox_payers, live_server):
    payer, body, _ = _session("prairie-medicaid", "prairie-henry", live_server)
    raw = requests.Session()
    raw.headers["Authorization"] = f"Bearer {body['access_token']}"
    statuses = [raw.get(f"{payer.fhir_base_url}/Encounter?_count=1").status_code for _ in range(40)]

    # Deterministic: the same calls fail on every run (seeded by profile, patient, call number).
    assert statuses.count(429) == 4
    assert 1 <= statuses.count(503) <= 10
    ok = raw.get(f"{payer.fhir_base_url}/Encounter?_count=1")
    if ok.status_code == 200:
        encounter = ok.json()["entry"][0]["resource"]
        assert encounter["subject"]["reference"].startswith(payer.fhir_base_url + "/Patient/")


def test_sandbox_info_json_lists_payers_and_test_patients(sandbox_payers):
    out = StringIO()
    call_command("sandbox_info", "--json", stdout=out)
    info = {p["slug"]: p for p in json.loads(out.getvalue())}

    assert {
        "bluebird-medicare",
        "lakeshore-health",
        "prairie-medicaid",
        "summit-mutual",
        "harbor-exchange",
    } <= set(info)
    bluebird = info["bluebird-medicare"]
    assert bluebird["fhir_base_url"].endswith("/sandbox/bluebird-medicare/fhir")
    assert bluebird["profile"] == "bluebutton-like"
    assert {
        "username": "bluebird-john",
        "password": "payerbridge",
        "patient_id": "567834",
    } in bluebird["patients"]


def test_fhir_errors_are_operation_outcomes(sandbox_payers, live_server):
    payer, _body, session = _session("lakeshore-health", "lakeshore-walter", live_server)
    base = payer.fhir_base_url

    cases = {
        f"{base}?_getpages=forged": (400, "invalid"),
        base: (400, "invalid"),
        f"{base}/Basic?patient=x": (404, "not-supported"),
        f"{base}/Patient/nobody/$everything": (404, "not-found"),
        f"{base.replace('lakeshore-health', 'no-such-payer')}/Patient": (404, "not-found"),
    }
    for url, (status, code) in cases.items():
        response = session.get(url) if "no-such" not in url else requests.get(url, timeout=10)
        assert response.status_code == status, url
        assert response.headers["Content-Type"] == "application/fhir+json"
        assert response.json()["issue"][0]["code"] == code, url


def test_bad_bearer_tokens_are_401_with_www_authenticate(sandbox_payers):
    payer = Payer.objects.get(slug="lakeshore-health")

    for header in ("Bearer nope", "Basic abc", ""):
        response = requests.get(
            f"{payer.fhir_base_url}/Patient", headers={"Authorization": header}, timeout=10
        )
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer error=")


def test_granted_scopes_limit_what_a_token_reads(sandbox_payers, live_server):
    payer = Payer.objects.get(slug="lakeshore-health")
    body = login(
        payer,
        "lakeshore-walter",
        redirect_uri_for(live_server.url),
        scope="launch/patient patient/Patient.rs patient/Coverage.read",
    )
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    base = payer.fhir_base_url

    assert requests.get(f"{base}/Patient/{body['patient']}", headers=headers).status_code == 200
    denied = requests.get(f"{base}/ExplanationOfBenefit", headers=headers, timeout=10)
    assert denied.status_code == 403
    assert denied.json()["issue"][0]["code"] == "forbidden"
    everything = requests.get(f"{base}/Patient/{body['patient']}/$everything", headers=headers)
    kinds = {e["resource"]["resourceType"] for e in everything.json()["entry"]}
    assert kinds <= {"Patient", "Coverage"}


def test_scope_grammar():
    from payers.sandbox.scopes import allows

    assert allows("patient/*.read", "Observation", "s")
    assert allows("patient/Observation.rs", "Observation", "r")
    assert allows("patient/Observation.rs?category=laboratory", "Observation", "s")
    assert not allows("patient/Observation.s", "Observation", "r")
    assert not allows("patient/Observation.rs", "Condition", "s")
    assert not allows("patient/Observation.write", "Observation", "r")
    assert not allows("launch/patient openid", "Patient", "r")
