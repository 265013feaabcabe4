"""Malformed input to /oauth/*, /api/* and the patient pages: the right 4xx, never a 500.

NUL (PostgreSQL refuses it in text and JSON), control characters, quotes that
authlib refuses to put in an `error_description`, repeated parameters, values
too long, HTTP Basic credentials that are not UTF-8.
"""

from __future__ import annotations

import base64

import pytest
import requests

from consent.models import AuthorizationFlow, Consent
from tests.consent.conftest import authorize_params, pkce_pair
from tests.consent.journey import start


def basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "abc\x00"},
        {"state": "s\x00"},
        {"nonce": "n\x00"},
        {"launch": "l\x00"},
        {"scope": "launch/patient patient/*.read\x00"},
        {"scope": 'launch/patient patient/*.read "x"'},
        {"response_type": "code\x00"},
        {"response_type": 'co"de'},
        {"redirect_uri": "http://127.0.0.1:9/callback\x00"},
        {"redirect_uri": "http://127.0.0.1:9/callback\n"},
        {"redirect_uri": 'http://127.0.0.1:9/"callback'},
        {"state": "s" * 5000},
    ],
)
def test_malformed_authorization_request_is_shown_to_the_patient(live_server, make_client, change):
    client = make_client()
    params = authorize_params(client, pkce_pair()[1], **change)
    response = requests.get(
        f"{live_server.url}/oauth/authorize", params=params, allow_redirects=False, timeout=10
    )
    assert response.status_code == 400, response.text[:300]
    assert "text/html" in response.headers["Content-Type"]
    assert "Location" not in response.headers
    assert not AuthorizationFlow.objects.exists() and not Consent.objects.exists()


def test_repeated_authorization_parameter_is_refused(live_server, make_client):
    client = make_client()
    params = list(authorize_params(client, pkce_pair()[1]).items())
    params.append(("aud", "https://other.example/fhir"))
    response = requests.get(
        f"{live_server.url}/oauth/authorize", params=params, allow_redirects=False, timeout=10
    )
    assert response.status_code == 400 and "repeated" in response.text
    assert not AuthorizationFlow.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"grant_type": "authorization_code", "client_id": "a\x00", "code": "x"},
        {"grant_type": "authorization_code", "client_id": "a\x00", "client_secret": "s"},
        {"grant_type": "client_credentials", "scope": "\x00"},
        {"grant_type": "client_credentials", "scope": "caf\u00e9"},
        {"grant_type": 'client"credentials'},
        {"grant_type": "refresh_token", "refresh_token": "r" * 5000},
        [("grant_type", "client_credentials"), ("grant_type", "authorization_code")],
    ],
)
def test_malformed_token_request_is_invalid_request(live_server, make_client, data):
    client = make_client()
    response = requests.post(
        f"{live_server.url}/oauth/token", data=data, auth=client.auth(), timeout=10
    )
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


def test_token_request_with_a_non_utf8_body_is_not_a_server_error(live_server, make_client):
    client = make_client()
    response = requests.post(
        f"{live_server.url}/oauth/token",
        data=b"grant_type=client_credentials&scope=%ff%fe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=client.auth(),
        timeout=10,
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("endpoint", ["token", "introspect", "revoke"])
@pytest.mark.parametrize("raw", [b"\xff\xfe:\xff", b"a\x00:b"])
def test_basic_credentials_that_are_not_utf8_or_hold_nul_are_invalid_client(
    live_server, endpoint, raw
):
    response = requests.post(
        f"{live_server.url}/oauth/{endpoint}",
        data={"grant_type": "client_credentials", "token": "x"},
        headers=basic(raw),
        timeout=10,
    )
    assert response.status_code == 401, response.text[:300]
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("endpoint", ["introspect", "revoke"])
def test_token_with_nul_is_invalid_request(live_server, make_client, endpoint):
    client = make_client()
    response = requests.post(
        f"{live_server.url}/oauth/{endpoint}",
        data={"token": "t\x00"},
        auth=client.auth(),
        timeout=10,
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_api_consents_with_an_unknown_status_filter_is_400(live_server, make_client):
    client = make_client()
    token = requests.post(
        f"{live_server.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "consents"},
        auth=client.auth(),
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    api = f"{live_server.url}/api/consents"
    for status in ("\x00", "nope"):
        response = requests.get(api, params={"status": status}, headers=headers, timeout=10)
        assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_choosing_a_payer_slug_with_nul_is_a_clear_page(live_server, make_client):
    started = start(live_server, make_client())
    response = started.browser.post(
        f"{started.flow_url}payer",
        data={"payer": "p\x00", "csrfmiddlewaretoken": started.csrf_token()},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 403 and "cannot be chosen" in response.text
    assert not Consent.objects.exists()
