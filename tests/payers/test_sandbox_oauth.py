"""The sandbox authorization server, over real HTTP, as a SMART client sees it."""

from __future__ import annotations

import dataclasses
import secrets
import time

import pytest
import requests
from fhirclient import client as fhirclient
from joserfc import jwt
from joserfc.jwk import KeySet

from payers.models import Payer
from payers.sandbox.profiles import NAMED
from payers.sandbox.seed import register_sandbox_payer
from tests.forms import find_form, submit
from tests.payers.smart import (
    authorize_params,
    exchange,
    login,
    query_of,
    redirect_uri_for,
    sign_in_and_decide,
    token_request,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lakeshore(sandbox_payers) -> Payer:
    return Payer.objects.get(slug="lakeshore-health")


@pytest.fixture
def redirect_uri(live_server) -> str:
    return redirect_uri_for(live_server.url)


def test_fhirclient_completes_a_standalone_launch(lakeshore, redirect_uri):
    smart = fhirclient.FHIRClient(
        settings={
            "app_id": lakeshore.client_id,
            "app_secret": lakeshore.client_secret,
            "api_base": lakeshore.fhir_base_url,
            "redirect_uri": redirect_uri,
        }
    )

    authorize_url = smart.authorize_url  # discovery through the CapabilityStatement
    assert "code_challenge_method=S256" in authorize_url
    browser = requests.Session()
    page = browser.get(authorize_url, timeout=30)
    consent = submit(
        browser, page, {"Username": "lakeshore-walter", "Password": "payerbridge"}, button="Sign in"
    )
    callback = submit(browser, consent, button="Allow", allow_redirects=False)
    smart.handle_callback(callback.headers["Location"])

    assert smart.patient_id == "74f20731-a639-40e1-b8fb-d0d739d53caf"
    assert smart.patient.name[0].family == "Stracke611"


def test_discovery_documents(lakeshore):
    config = requests.get(f"{lakeshore.fhir_base_url}/.well-known/smart-configuration", timeout=10)
    metadata = requests.get(f"{lakeshore.fhir_base_url}/metadata", timeout=10).json()

    assert config.status_code == 200
    body = config.json()
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["token_endpoint"] == lakeshore.token_url
    assert "permission-offline" in body["capabilities"]
    oauth_uris = metadata["rest"][0]["security"]["extension"][0]
    assert oauth_uris["url"].endswith("/oauth-uris")
    assert {"url": "token", "valueUri": lakeshore.token_url} in oauth_uris["extension"]


def test_sign_in_page_is_a_labelled_form_and_wrong_password_is_refused(lakeshore, redirect_uri):
    params = authorize_params(lakeshore, verifier="v" * 50, redirect_uri=redirect_uri)
    browser = requests.Session()
    page = browser.get(lakeshore.authorize_url, params=params, timeout=10)

    form = find_form(page, "Sign in")
    assert set(form.labels) == {"Username", "Password"}
    wrong = submit(
        browser, page, {"Username": "lakeshore-walter", "Password": "x"}, button="Sign in"
    )
    assert wrong.status_code == 401
    assert "Wrong username or password" in wrong.text
    assert "sbx_csrftoken" in browser.cookies


def test_token_response_carries_patient_refresh_and_signed_id_token(lakeshore, redirect_uri):
    body = login(lakeshore, "lakeshore-ariadna", redirect_uri)

    assert body["token_type"] == "Bearer"
    assert body["patient"] == "964ac3e7-03ab-4b44-9a30-7406865ac850"
    assert body["refresh_token"]
    keys = requests.get(
        requests.get(f"{lakeshore.fhir_base_url}/.well-known/smart-configuration").json()[
            "jwks_uri"
        ],
        timeout=10,
    ).json()
    claims = jwt.decode(body["id_token"], KeySet.import_key_set(keys)).claims
    assert claims["fhirUser"] == f"{lakeshore.fhir_base_url}/Patient/{body['patient']}"
    assert claims["aud"] == lakeshore.client_id


def test_deny_redirects_with_access_denied(lakeshore, redirect_uri):
    params = authorize_params(lakeshore, verifier="v" * 50, redirect_uri=redirect_uri)

    result = query_of(sign_in_and_decide(params, lakeshore, "lakeshore-walter", decision="Deny"))

    assert result == {
        "error": "access_denied",
        "error_description": "the patient denied access",
        "state": "state-123",
    }


def test_hidden_patient_profile_omits_patient_but_id_token_names_them(sandbox_payers, redirect_uri):
    prairie = Payer.objects.get(slug="prairie-medicaid")

    body = login(
        prairie,
        "prairie-scot",
        redirect_uri,
        scope="launch/patient openid fhirUser patient/*.read offline_access",
    )

    assert "patient" not in body
    assert "refresh_token" not in body  # this payer grants no refresh tokens
    assert "offline_access" not in body["scope"].split()
    claims = jwt.decode(body["id_token"], _jwks(prairie)).claims
    assert claims["fhirUser"].endswith("/Patient/7a7ac0a5-6bd2-4745-b2ea-6e768832d48e")


def _jwks(payer: Payer) -> KeySet:
    url = f"{payer.authorize_url.rsplit('/', 1)[0]}/jwks"
    return KeySet.import_key_set(requests.get(url, timeout=10).json())


# --- negative cases: each refused with the right OAuth error ------------------


def test_wrong_pkce_verifier_is_invalid_grant(lakeshore, redirect_uri):
    verifier = secrets.token_urlsafe(48)
    params = authorize_params(lakeshore, verifier=verifier, redirect_uri=redirect_uri)
    code = query_of(sign_in_and_decide(params, lakeshore, "lakeshore-walter"))["code"]

    response = exchange(lakeshore, code, secrets.token_urlsafe(48), redirect_uri)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "code_verifier" in response.json()["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


def test_plain_pkce_method_is_refused_at_authorize(lakeshore, redirect_uri):
    params = authorize_params(
        lakeshore, verifier="plain-verifier-" * 4, redirect_uri=redirect_uri, method="plain"
    )

    response = requests.get(
        lakeshore.authorize_url, params=params, allow_redirects=False, timeout=10
    )

    result = query_of(response)
    assert result["error"] == "invalid_request"
    assert "S256" in result["error_description"]
    assert result["state"] == "state-123"


def test_reused_code_is_invalid_grant_and_revokes_first_tokens(lakeshore, redirect_uri):
    verifier = secrets.token_urlsafe(48)
    params = authorize_params(lakeshore, verifier=verifier, redirect_uri=redirect_uri)
    code = query_of(sign_in_and_decide(params, lakeshore, "lakeshore-walter"))["code"]
    first = exchange(lakeshore, code, verifier, redirect_uri)
    assert first.status_code == 200

    second = exchange(lakeshore, code, verifier, redirect_uri)

    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    read = requests.get(
        f"{lakeshore.fhir_base_url}/Patient/{first.json()['patient']}",
        headers={"Authorization": f"Bearer {first.json()['access_token']}"},
        timeout=10,
    )
    assert read.status_code == 401


def test_wrong_redirect_uri(lakeshore, redirect_uri):
    verifier = secrets.token_urlsafe(48)
    unregistered = authorize_params(
        lakeshore, verifier=verifier, redirect_uri="https://evil.example/cb"
    )
    page = requests.get(lakeshore.authorize_url, params=unregistered, allow_redirects=False)
    assert page.status_code == 400  # shown, never redirected to
    assert "redirect_uri is not registered" in page.text

    params = authorize_params(lakeshore, verifier=verifier, redirect_uri=redirect_uri)
    code = query_of(sign_in_and_decide(params, lakeshore, "lakeshore-walter"))["code"]
    response = exchange(lakeshore, code, verifier, redirect_uri + "/other")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_invalid_client(lakeshore):
    response = requests.post(
        lakeshore.token_url,
        data={"grant_type": "authorization_code", "code": "x"},
        auth=(lakeshore.client_id, "wrong"),
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def _variant(sandbox_server, live_server, blocker, slug: str, **changes) -> Payer:
    """A copy of the well-behaved payer with some profile fields changed."""
    _, named = NAMED["lakeshore-health"]
    profile = dataclasses.replace(named, **changes)
    with blocker.unblock():
        return register_sandbox_payer(
            slug, slug.title(), profile, sandbox_server.url, live_server.url
        )


@pytest.fixture
def short_lived(sandbox_server, live_server, django_db_blocker) -> Payer:
    return _variant(
        sandbox_server, live_server, django_db_blocker, "short-lived", access_token_seconds=2
    )


@pytest.fixture
def short_code(sandbox_server, live_server, django_db_blocker) -> Payer:
    return _variant(sandbox_server, live_server, django_db_blocker, "short-code", code_seconds=1)


def test_expired_access_token_is_invalid_token(short_lived, redirect_uri):
    body = login(short_lived, "lakeshore-walter", redirect_uri)
    url = f"{short_lived.fhir_base_url}/Patient/{body['patient']}"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(url, headers=headers, timeout=10).status_code == 200

    time.sleep(2.2)
    response = requests.get(url, headers=headers, timeout=10)

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json()["issue"][0]["diagnostics"] == "the access token has expired"


def test_refresh_rotates_and_reuse_revokes_the_grant(lakeshore, redirect_uri):
    body = login(lakeshore, "lakeshore-walter", redirect_uri)
    old = body["refresh_token"]

    rotated = token_request(lakeshore, {"grant_type": "refresh_token", "refresh_token": old})
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != old

    reused = token_request(lakeshore, {"grant_type": "refresh_token", "refresh_token": old})
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert "already used" in reused.json()["error_description"]
    # the whole grant is gone: the rotated refresh token and its access token too
    again = token_request(
        lakeshore, {"grant_type": "refresh_token", "refresh_token": new["refresh_token"]}
    )
    assert again.json()["error"] == "invalid_grant"
    read = requests.get(
        f"{lakeshore.fhir_base_url}/Patient/{body['patient']}",
        headers={"Authorization": f"Bearer {new['access_token']}"},
        timeout=10,
    )
    assert read.status_code == 401


def test_revocation_ends_access(lakeshore, redirect_uri):
    body = login(lakeshore, "lakeshore-walter", redirect_uri)

    response = requests.post(
        lakeshore.revoke_url,
        data={"token": body["refresh_token"]},
        auth=(lakeshore.client_id, lakeshore.client_secret),
        timeout=10,
    )

    assert response.status_code == 200
    read = requests.get(
        f"{lakeshore.fhir_base_url}/Patient/{body['patient']}",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    )
    assert read.status_code == 401


def test_index_page_lists_test_patients(sandbox_payers, sandbox_server):
    page = requests.get(f"{sandbox_server.url}/sandbox/", timeout=10)

    assert page.status_code == 200
    assert "lakeshore-walter" in page.text and "Lakeshore Health Plan" in page.text


def test_expired_code_is_invalid_grant(short_code, redirect_uri):
    verifier = secrets.token_urlsafe(48)
    params = authorize_params(short_code, verifier=verifier, redirect_uri=redirect_uri)
    code = query_of(sign_in_and_decide(params, short_code, "lakeshore-walter"))["code"]

    time.sleep(1.2)
    response = exchange(short_code, code, verifier, redirect_uri)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "authorization code has expired",
    }
