"""Malformed input to every sandbox endpoint: a 4xx in the endpoint's dialect, never a 500.

FHIR endpoints answer OperationOutcome, OAuth endpoints RFC 6749 §5.2 JSON.
"""

from __future__ import annotations

import base64
import secrets

import pytest
import requests

from payers.models import Payer
from tests.payers.smart import (
    authorize_params,
    login,
    redirect_uri_for,
    sign_in_and_decide,
)

pytestmark = pytest.mark.django_db

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def bluebird(sandbox_payers, live_server) -> tuple[Payer, dict[str, str]]:
    """The offset-paging payer and a live bearer header of one of its patients."""
    payer = Payer.objects.get(slug="bluebird-medicare")
    token = login(payer, "bluebird-john", redirect_uri_for(live_server.url))["access_token"]
    return payer, {"Authorization": f"Bearer {token}"}


def _outcome(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return body


def _oauth_error(response: requests.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text


@pytest.mark.parametrize(
    "query",
    [
        "_count=abc",
        "_count=-1",
        "_count=0",
        "_count=%C2%B2",  # superscript two: str.isdigit() says yes, int() says no
        "_count=99999999999999999999999999",
        "startIndex=-5",
        "startIndex=%C2%B2",
        "startIndex=99999999999999999999999999",
        "_id=%FF%FE",
        "patient=567834&_count=%00",
    ],
)
def test_odd_paging_parameters_still_answer_a_bundle(bluebird, query):
    payer, auth = bluebird

    response = requests.get(
        f"{payer.fhir_base_url}/ExplanationOfBenefit?{query}", headers=auth, timeout=30
    )

    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert len(bundle.get("entry", [])) <= 5  # the payer's page size caps _count


def test_huge_offset_is_an_empty_page_without_next_link(bluebird):
    payer, auth = bluebird

    bundle = requests.get(
        f"{payer.fhir_base_url}/ExplanationOfBenefit?startIndex=999999999999",
        headers=auth,
        timeout=30,
    ).json()

    assert bundle["total"] == 8 and bundle.get("entry", []) == []
    assert [link["relation"] for link in bundle["link"]] == ["self"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/NoSuchType", 404, "not-supported"),
        ("/NoSuchType/1", 404, "not-supported"),
        ("/Patient/%FF%FE", 404, "not-found"),
        ("/ExplanationOfBenefit?patient=%FF", 403, "forbidden"),
        ("?_getpages=not-a-token", 400, "invalid"),
        ("?_getpages=", 400, "invalid"),
        ("/Patient/567834/$everything", 404, "not-supported"),
        ("/no/such/path/at/all", 404, "not-found"),
    ],
)
def test_bad_fhir_requests_are_operation_outcomes(bluebird, path, status, code):
    payer, auth = bluebird

    response = requests.get(f"{payer.fhir_base_url}{path}", headers=auth, timeout=30)

    assert _outcome(response, status)["issue"][0]["code"] == code


@pytest.mark.parametrize(
    "authorization",
    [b"", b"Bearer", b"Bearer    ", b"Basic Zm9vOmJhcg==", b"Bearer \xff\xfe\x80", b"bearer x y z"],
)
def test_malformed_bearer_tokens_are_401_outcomes(sandbox_payers, authorization):
    payer = Payer.objects.get(slug="lakeshore-health")
    headers = {"Authorization": authorization} if authorization else {}

    for url in (f"{payer.fhir_base_url}/Patient", f"{payer.fhir_base_url}/Patient/1"):
        response = requests.get(url, headers=headers, timeout=30)
        assert _outcome(response, 401)["issue"][0]["code"] == "login"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    userinfo = requests.get(
        payer.token_url.replace("/token", "/userinfo"), headers=headers, timeout=30
    )
    assert userinfo.status_code == 401 and "error" in userinfo.json()


def test_fhir_write_methods_are_405_outcomes(bluebird):
    payer, auth = bluebird

    response = requests.post(f"{payer.fhir_base_url}/Patient", json={}, headers=auth, timeout=30)

    assert _outcome(response, 405)["issue"][0]["code"] == "not-supported"


def _basic(client_id: bytes, secret: bytes) -> dict[str, bytes]:
    return {"Authorization": b"Basic " + base64.b64encode(client_id + b":" + secret)}


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"json": {"grant_type": "refresh_token", "refresh_token": "x"}}, 400, "invalid_request"),
        (
            {"data": b"grant_type=\xff\xfe&code=\x80", "headers": FORM},
            400,
            "unsupported_grant_type",
        ),
        ({"files": {"grant_type": b"refresh_token"}}, 400, "invalid_request"),
        (
            {"data": b"--x\r\ngarbage", "headers": {"Content-Type": "multipart/form-data"}},
            400,
            "invalid_request",
        ),
        ({"data": {"code": "x"}}, 400, "invalid_request"),
        ({"data": {"grant_type": "password"}}, 400, "unsupported_grant_type"),
    ],
)
def test_odd_token_bodies_are_oauth_errors(sandbox_payers, kwargs, status, error):
    payer = Payer.objects.get(slug="lakeshore-health")
    auth = (payer.client_id, payer.client_secret)

    response = requests.post(payer.token_url, auth=auth, timeout=30, **kwargs)

    _oauth_error(response, status, error)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": b"Basic !!!not-base64!!!"},
        _basic(b"\xff\xfe", b"secret"),
        _basic(b"payerbridge-gateway\x00", b"secret"),
        _basic(b"payerbridge-gateway", b"wrong"),
        {"Authorization": b"Bearer abc"},
    ],
)
def test_malformed_client_authentication_is_invalid_client(sandbox_payers, headers):
    payer = Payer.objects.get(slug="lakeshore-health")

    for url in (payer.token_url, payer.revoke_url):
        response = requests.post(
            url, data={"grant_type": "refresh_token", "token": "x"}, headers=headers, timeout=30
        )
        _oauth_error(response, 401, "invalid_client")


def test_nul_in_client_id_posted_is_invalid_client(sandbox_payers):
    payer = Payer.objects.get(slug="lakeshore-health")

    response = requests.post(
        payer.token_url,
        data={"grant_type": "refresh_token", "client_id": "a\x00b", "refresh_token": "x"},
        timeout=30,
    )

    _oauth_error(response, 401, "invalid_client")


def test_token_endpoint_refuses_get_with_oauth_json(sandbox_payers):
    payer = Payer.objects.get(slug="lakeshore-health")

    _oauth_error(requests.get(payer.token_url, timeout=30), 405, "invalid_request")


def test_nul_in_authorize_parameters_is_refused_not_500(sandbox_payers, live_server):
    payer = Payer.objects.get(slug="lakeshore-health")
    redirect_uri = redirect_uri_for(live_server.url)
    params = authorize_params(payer, verifier=secrets.token_urlsafe(48), redirect_uri=redirect_uri)

    unknown = requests.get(payer.authorize_url, params={**params, "client_id": "x\x00"}, timeout=30)
    assert unknown.status_code == 400 and "invalid_client" in unknown.text

    bad_nonce = requests.get(
        payer.authorize_url,
        params={**params, "nonce": "n\x00", "scope": "openid patient/*.read"},
        allow_redirects=False,
        timeout=30,
    )
    assert bad_nonce.status_code == 302
    assert "error=invalid_request" in bad_nonce.headers["Location"]


def test_allowed_flow_still_works_after_odd_state(sandbox_payers, live_server):
    """State is opaque to the server (RFC 6749 §4.1.1): any characters go back as sent."""
    payer = Payer.objects.get(slug="lakeshore-health")
    redirect_uri = redirect_uri_for(live_server.url)
    params = authorize_params(
        payer, verifier=secrets.token_urlsafe(48), redirect_uri=redirect_uri, state="é &=?#"
    )

    response = sign_in_and_decide(params, payer, "lakeshore-walter")

    assert response.status_code == 302
    assert "state=%C3%A9+%26%3D%3F%23" in response.headers["Location"]
