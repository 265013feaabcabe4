"""The FHIR API's policy through HTTP: tokens, scopes, compartments, data states,
negotiation, caching headers, CORS, routes, and search's result parameters."""

from __future__ import annotations

import gzip
import re
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import orjson
import pytest
from django.apps import apps
from django.utils import timezone

from consent.models import Consent
from fhircache.searchparams import SEARCH_PARAMS
from tests.fhircache.api.conftest import FILES, issue_token, load, make_consent, raw_resources

pytestmark = pytest.mark.django_db
EOB = "ExplanationOfBenefit"
FORM = "application/x-www-form-urlencoded"
RAW = raw_resources(*FILES)
AN_EOB = next(r["id"] for r in RAW if r["resourceType"] == EOB)


def outcome_codes(response) -> list[str]:
    body = orjson.loads(response.content)
    assert body["resourceType"] == "OperationOutcome", body
    return [i["code"] for i in body["issue"]]


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


# --- tokens and scopes ---------------------------------------------------------------


def test_requests_without_a_live_patient_token_are_refused(patient_cache, client):
    consent = patient_cache.consent
    url = f"/fhir/{EOB}/{AN_EOB}"
    missing = client.get(url)
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    assert outcome_codes(missing) == ["login"]
    expired = issue_token(consent, expires_at=timezone.now() - timedelta(seconds=1))
    revoked = issue_token(consent, revoked_at=timezone.now())
    for token in ("not-a-token", expired, revoked):
        response = client.get(url, **bearer(token))
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert outcome_codes(response) == ["login"]
    app_token = issue_token(None, "consents", app=consent.app)
    response = client.get(url, **bearer(app_token))
    assert response.status_code == 403 and outcome_codes(response) == ["forbidden"]


def test_an_ended_consent_s_token_is_dead(client):
    consent = make_consent()
    token = issue_token(consent)
    assert client.get("/fhir/Patient", **bearer(token)).status_code == 200
    Consent.objects.filter(pk=consent.pk).update(status=Consent.Status.REVOKED)
    assert client.get("/fhir/Patient", **bearer(token)).status_code == 401


@pytest.mark.parametrize(
    ("scope", "read", "search"),
    [
        ("patient/ExplanationOfBenefit.read", 200, 200),  # v1: both
        ("patient/ExplanationOfBenefit.rs", 200, 200),
        ("patient/ExplanationOfBenefit.r", 200, 403),
        ("patient/ExplanationOfBenefit.s", 403, 200),
        ("patient/*.rs", 200, 200),
        ("patient/Coverage.read", 403, 403),
        ("launch/patient openid", 403, 403),
    ],
)
def test_smart_v1_and_v2_scopes_per_type_and_interaction(
    patient_cache, client, scope, read, search
):
    token = issue_token(patient_cache.consent, scope)
    got_read = client.get(f"/fhir/{EOB}/{AN_EOB}", **bearer(token))
    got_search = client.get(f"/fhir/{EOB}", **bearer(token))
    assert (got_read.status_code, got_search.status_code) == (read, search)
    for response in (got_read, got_search):
        if response.status_code == 403:
            assert outcome_codes(response) == ["forbidden"]


def test_includes_leave_out_types_the_token_may_not_read(patient_cache, client):
    token = issue_token(patient_cache.consent, "patient/ExplanationOfBenefit.rs")
    response = client.get(f"/fhir/{EOB}", {"_include": f"{EOB}:*"}, **bearer(token))
    types = {e["resource"]["resourceType"] for e in orjson.loads(response.content)["entry"]}
    assert types == {EOB}
    everything = client.get(f"/fhir/{EOB}", {"_include": f"{EOB}:*"}, **patient_cache.auth)
    assert "Patient" in {
        e["resource"]["resourceType"] for e in orjson.loads(everything.content)["entry"]
    }


# --- one consent is one compartment --------------------------------------------------


def test_another_consent_s_data_is_not_there(patient_cache, client):
    other = make_consent()
    load(other, FILES[1])  # the same EOB ids, another consent
    other_token = issue_token(other)
    mine = patient_cache.auth
    patient_id = patient_cache.consent.patient_id
    assert client.get(f"/fhir/Patient/{patient_id}", **bearer(other_token)).status_code == 404
    assert client.get(f"/fhir/Patient/{patient_id}", **mine).status_code == 200
    ours = orjson.loads(client.get(f"/fhir/{EOB}", {"_count": "2"}, **mine).content)
    next_link = local(next(link["url"] for link in ours["link"] if link["relation"] == "next"))
    foreign = client.get(next_link, **bearer(other_token))
    assert foreign.status_code == 400 and outcome_codes(foreign) == ["invalid"]
    other_type = client.get(next_link.replace(f"/{EOB}?", "/Coverage?"), **mine)
    assert other_type.status_code == 400
    tampered = re.sub(r"(_cursor=)(.)", lambda m: m[1] + ("A" if m[2] != "A" else "B"), next_link)
    assert client.get(tampered, **mine).status_code == 400
    theirs = orjson.loads(client.get(f"/fhir/{EOB}", **bearer(other_token)).content)
    assert theirs["total"] == sum(r["resourceType"] == EOB for r in raw_resources(FILES[1]))


def test_patient_search_returns_the_consent_s_patient(patient_cache, client):
    body = orjson.loads(client.get("/fhir/Patient", **patient_cache.auth).content)
    assert [e["resource"]["id"] for e in body["entry"]] == [patient_cache.consent.patient_id]
    assert body["total"] == 1


# --- data states ---------------------------------------------------------------------


def _job(consent, **fields):
    model = apps.get_model("etl", "SyncJob")
    return model.objects.create(consent=consent, payer=consent.payer, app=consent.app, **fields)


@pytest.mark.parametrize("state", ["none", "syncing"])
def test_before_the_first_sync_the_answer_is_429_transient(client, state):
    consent = make_consent(data_state=state)
    response = client.get("/fhir/Patient", **bearer(issue_token(consent)))
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert outcome_codes(response) == ["transient"]


def test_a_resync_serves_the_last_sync_s_data(client):
    consent = make_consent(data_state="syncing")
    _job(consent, state="succeeded", finished_at=timezone.now())
    assert client.get("/fhir/Patient", **bearer(issue_token(consent))).status_code == 200


def test_partial_data_is_served_with_an_outcome_entry(client):
    consent = make_consent(data_state="partial")
    load(consent, FILES[2])
    body = orjson.loads(client.get("/fhir/Coverage", **bearer(issue_token(consent))).content)
    modes = [e["search"]["mode"] for e in body["entry"]]
    assert modes.count("match") == 4 and modes[-1] == "outcome"
    assert body["entry"][-1]["resource"]["issue"][0]["code"] == "incomplete"


def test_failed_syncs_are_503_while_a_retry_is_scheduled_then_502(client):
    consent = make_consent(data_state="failed")
    token = issue_token(consent)
    job = _job(consent, state="failed", next_attempt_at=timezone.now() + timedelta(minutes=5))
    waiting = client.get("/fhir/Patient", **bearer(token))
    assert waiting.status_code == 503 and 0 < int(waiting["Retry-After"]) <= 300
    type(job).objects.filter(pk=job.pk).update(next_attempt_at=None, last_error="Payer said 500")
    final = client.get("/fhir/Patient", **bearer(token))
    assert final.status_code == 502 and "Payer said 500" in final.content.decode()


# --- wire format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "accept", "content_type"),
    [
        ({}, None, "application/fhir+json"),
        ({}, "application/json", "application/json"),
        ({}, "application/json+fhir", "application/json+fhir"),
        ({}, "text/html,application/xhtml+xml,*/*;q=0.8", "application/fhir+json"),
        ({"_format": "json"}, None, "application/fhir+json"),
        ({"_format": "application/json"}, "application/fhir+xml", "application/json"),
        ({"_format": "xml"}, None, "application/fhir+json"),  # never a 406 for _format
        ({"_pretty": "true"}, None, "application/fhir+json"),
    ],
)
def test_json_types_and_format_parameters(patient_cache, client, params, accept, content_type):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get(f"/fhir/{EOB}/{AN_EOB}", params, **patient_cache.auth, **headers)
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == content_type


def test_an_accept_without_json_is_406(patient_cache, client):
    headers = {"HTTP_ACCEPT": "application/fhir+xml"}
    response = client.get(f"/fhir/{EOB}/{AN_EOB}", **patient_cache.auth, **headers)
    assert response.status_code == 406 and outcome_codes(response) == ["not-supported"]


def test_pretty_printing_keeps_numbers_as_written(patient_cache, client):
    url = f"/fhir/{EOB}"
    compact = client.get(url, **patient_cache.auth).content
    pretty = client.get(url, {"_pretty": "true"}, **patient_cache.auth).content
    assert b"\n  " in pretty and len(pretty) > len(compact)
    numbers = re.compile(rb"(?<=[:\[,\s])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?=[,\]}\s])")
    assert numbers.findall(pretty) == numbers.findall(compact)


def test_gzip_etag_last_modified_and_304(patient_cache, client):
    url = f"/fhir/{EOB}/{AN_EOB}"
    plain = client.get(url, **patient_cache.auth)
    zipped = client.get(url, HTTP_ACCEPT_ENCODING="gzip", **patient_cache.auth)
    assert zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content) == plain.content
    assert plain["ETag"] == 'W/"1"' and plain["Last-Modified"].endswith("GMT")
    assert orjson.loads(plain.content)["id"] == AN_EOB
    again = client.get(url, HTTP_IF_NONE_MATCH='W/"1"', **patient_cache.auth)
    assert again.status_code == 304 and again.content == b""
    changed = client.get(url, HTTP_IF_NONE_MATCH='W/"0"', **patient_cache.auth)
    assert changed.status_code == 200


def test_cors_for_browser_apps(patient_cache, client):
    url = f"/fhir/{EOB}"
    preflight = client.options(
        url,
        HTTP_ORIGIN="https://app.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    response = client.get(url, HTTP_ORIGIN="https://app.example", **patient_cache.auth)
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in response["Access-Control-Expose-Headers"]
    denied = client.get(url, HTTP_ORIGIN="https://app.example")
    assert denied.status_code == 401 and denied["Access-Control-Allow-Origin"] == "*"
    for answer in (preflight, response, denied):
        assert not answer.has_header("Access-Control-Allow-Credentials")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/fhir/Patient/", 404),  # no trailing-slash redirect
        ("get", "/fhir/", 404),
        ("get", "/fhir/Patient/bad_id!", 404),
        ("get", "/fhir/NotAType", 404),
        ("get", "/fhir/Patient/x/_history", 404),
        ("post", f"/fhir/{EOB}", 405),  # create is not offered
        ("delete", f"/fhir/{EOB}/{AN_EOB}", 405),
        ("get", f"/fhir/{EOB}/nope", 404),
    ],
)
def test_routes_answer_with_outcomes_never_redirects(patient_cache, client, method, path, status):
    response = getattr(client, method)(path, **patient_cache.auth)
    assert response.status_code == status
    assert outcome_codes(response)


# --- search's result parameters ------------------------------------------------------


def test_unknown_parameters_are_400_unless_lenient(patient_cache, client):
    strict = client.get(f"/fhir/{EOB}", {"colour": "blue"}, **patient_cache.auth)
    assert strict.status_code == 400 and "colour" in strict.content.decode()
    lenient = client.get(
        f"/fhir/{EOB}",
        {"colour": "blue", "status": "active"},
        HTTP_PREFER="handling=lenient",
        **patient_cache.auth,
    )
    body = orjson.loads(lenient.content)
    outcome = body["entry"][-1]
    assert outcome["search"]["mode"] == "outcome" and "colour" in str(outcome["resource"])
    assert body["total"] == sum(r["resourceType"] == EOB and r["status"] == "active" for r in RAW)


def test_post_search_equals_get(patient_cache, client):
    params = {"service-date": "ge2015", "_sort": "-service-date", "_count": "100"}
    got = orjson.loads(client.get(f"/fhir/{EOB}", params, **patient_cache.auth).content)
    form = urlencode(params)
    answer = client.post(f"/fhir/{EOB}/_search", form, content_type=FORM, **patient_cache.auth)
    posted = orjson.loads(answer.content)
    assert [e["resource"]["id"] for e in got["entry"]] == [
        e["resource"]["id"] for e in posted["entry"]
    ]
    as_json = client.post(
        f"/fhir/{EOB}/_search", b"{}", content_type="application/json", **patient_cache.auth
    )
    assert as_json.status_code == 415


def _max_service_date(eob: dict) -> str:
    from tests.fhircache.api import spec_search

    values = spec_search.ELEMENTS[(EOB, "service-date")][1](eob)
    ranges = [r for v in values for r in spec_search._target_ranges(v)]
    return max((r[1] for r in ranges), default=spec_search.MIN).isoformat()


@pytest.mark.parametrize("backward", [False, True])
def test_sort_and_paging_both_ways_return_each_match_once(patient_cache, client, backward):
    eobs = [r for r in RAW if r["resourceType"] == EOB]
    # descending by the latest service date; ties and missing dates by id
    want = sorted(eobs, key=lambda r: r["id"])
    want = [r["id"] for r in sorted(want, key=_max_service_date, reverse=True)]
    params = {"_sort": "-service-date", "_count": "4", "_total": "accurate"}
    body = orjson.loads(client.get(f"/fhir/{EOB}", params, **patient_cache.auth).content)
    pages = [[e["resource"]["id"] for e in body["entry"]]]
    while nxt := [link["url"] for link in body["link"] if link["relation"] == "next"]:
        body = orjson.loads(client.get(local(nxt[0]), **patient_cache.auth).content)
        pages.append([e["resource"]["id"] for e in body["entry"]])
        assert body["total"] == len(eobs)
    assert [i for page in pages for i in page] == want
    if backward:  # walk back from the last page with the previous links
        back = [pages[-1]]
        while prev := [link["url"] for link in body["link"] if link["relation"] == "previous"]:
            body = orjson.loads(client.get(local(prev[0]), **patient_cache.auth).content)
            back.insert(0, [e["resource"]["id"] for e in body["entry"]])
        assert [i for page in back for i in page] == want


def test_summary_total_and_elements(patient_cache, client):
    auth = patient_cache.auth
    eobs = sum(r["resourceType"] == EOB for r in RAW)
    count = orjson.loads(client.get(f"/fhir/{EOB}", {"_summary": "count"}, **auth).content)
    assert count["total"] == eobs and "entry" not in count
    none = orjson.loads(client.get(f"/fhir/{EOB}", {"_total": "none"}, **auth).content)
    assert "total" not in none and none["entry"]
    # without _total: given when the first page holds every match, else left out
    whole = orjson.loads(client.get(f"/fhir/{EOB}", {"_count": str(eobs)}, **auth).content)
    assert whole["total"] == eobs
    paged = orjson.loads(client.get(f"/fhir/{EOB}", {"_count": "3"}, **auth).content)
    assert "total" not in paged and len(paged["entry"]) == 3
    for asked in ("accurate", "estimate"):
        counted = client.get(f"/fhir/{EOB}", {"_count": "3", "_total": asked}, **auth)
        assert orjson.loads(counted.content)["total"] == eobs
    shaped = orjson.loads(
        client.get(f"/fhir/{EOB}", {"_elements": "status", "_count": "3"}, **auth).content
    )
    for entry in shaped["entry"]:
        resource = entry["resource"]
        assert set(resource) <= {"resourceType", "id", "meta", "status"}
        assert "SUBSETTED" in [t["code"] for t in resource["meta"]["tag"]]


def test_include_iterate_and_revinclude(patient_cache, client):
    auth = patient_cache.auth
    patient_id = patient_cache.consent.patient_id
    rev = orjson.loads(
        client.get("/fhir/Patient", {"_revinclude": f"{EOB}:patient"}, **auth).content
    )
    included = {e["resource"]["id"] for e in rev["entry"] if e["search"]["mode"] == "include"}
    assert included == {
        r["id"]
        for r in RAW
        if r["resourceType"] == EOB and r["patient"]["reference"] == f"urn:uuid:{patient_id}"
    }
    # EOB → Coverage (include) → ... ; Coverage:payor only via :iterate
    chained = orjson.loads(
        client.get(
            "/fhir/Patient",
            [("_revinclude", f"{EOB}:patient"), ("_include:iterate", f"{EOB}:care-team")],
            **auth,
        ).content
    )
    types = {e["resource"]["resourceType"] for e in chained["entry"]}
    assert {"Patient", EOB, "Practitioner"} <= types


def test_capability_statement_tells_the_truth(client):
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    statement = orjson.loads(response.content)
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert "http://hl7.org/fhir/us/carin-bb/CapabilityStatement/c4bb" in statement["instantiates"]
    assert "structural" in statement["rest"][0]["documentation"]
    security = statement["rest"][0]["security"]
    assert security["extension"][0]["url"].endswith("oauth-uris")
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for resource_type, params in SEARCH_PARAMS.items():
        announced = {p["name"] for p in by_type[resource_type]["searchParam"]}
        assert {p.name for p in params} | {"_id", "_lastUpdated"} <= announced
    assert "ExplanationOfBenefit:*" in by_type[EOB]["searchInclude"]
    assert "Coverage:payor" in by_type["Coverage"]["searchInclude"]


def test_tag_search_finds_what_the_served_resources_carry(patient_cache, client):
    """`_tag` (every type) against the tags of the resources as served, both ways."""
    system = "https://payerbridge.dev/fhir/CodeSystem/data-quality"
    everything = orjson.loads(
        client.get(f"/fhir/{EOB}", {"_count": "1000"}, **patient_cache.auth).content
    )
    tagged = {
        e["resource"]["id"]
        for e in everything["entry"]
        if any(t.get("system") == system for t in e["resource"].get("meta", {}).get("tag", []))
    }
    assert tagged, "the BFD Part D EOB fails structural validation and carries the tag"
    for params, want in (
        ({"_tag": f"{system}|"}, tagged),
        ({"_tag:not": f"{system}|"}, {e["resource"]["id"] for e in everything["entry"]} - tagged),
    ):
        body = orjson.loads(
            client.get(f"/fhir/{EOB}", {**params, "_count": "1000"}, **patient_cache.auth).content
        )
        assert {e["resource"]["id"] for e in body.get("entry", [])} == want


def test_oversized_and_overfull_search_forms_are_outcomes(patient_cache, client):
    url = f"/fhir/{EOB}/_search"
    big = "status=" + "a" * 3_000_000  # over DATA_UPLOAD_MAX_MEMORY_SIZE
    too_big = client.post(url, big, content_type=FORM, **patient_cache.auth)
    assert too_big.status_code == 413 and outcome_codes(too_big) == ["too-long"]
    many = "&".join(f"status=s{i}" for i in range(1500))  # over DATA_UPLOAD_MAX_NUMBER_FIELDS
    too_many = client.post(url, many, content_type=FORM, **patient_cache.auth)
    assert too_many.status_code == 400 and outcome_codes(too_many) == ["invalid"]
