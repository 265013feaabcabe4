"""/oauth/authorize validation: errors before the redirect URI is trusted are shown to the
patient; after it, they go back to the app (RFC 6749 §4.1.2.1). No flow starts on error."""

from __future__ import annotations

import pytest
import requests

from consent.models import AuthorizationFlow, Consent
from tests.consent.conftest import authorize_params, pkce_pair, query_of


def authorize(live_server, params: dict, session: requests.Session | None = None):
    return (session or requests).get(
        f"{live_server.url}/oauth/authorize", params=params, allow_redirects=False, timeout=10
    )


def assert_nothing_started() -> None:
    assert not AuthorizationFlow.objects.exists()
    assert not Consent.objects.exists()


def test_valid_request_starts_a_flow_bound_to_the_browser(live_server, make_client):
    client = make_client(public=True)
    browser = requests.Session()
    response = authorize(live_server, authorize_params(client, pkce_pair()[1]), browser)
    assert response.status_code == 302
    start_page = browser.get(live_server.url + response.headers["Location"], timeout=10)
    assert start_page.status_code == 200
    assert client.app.name in start_page.text
    # The same flow link in another browser is refused.
    stranger = requests.get(live_server.url + response.headers["Location"], timeout=10)
    assert stranger.status_code == 400 and client.app.name not in stranger.text


def test_trailing_slash_aud_is_accepted(live_server, make_client):
    client = make_client()
    params = authorize_params(client, pkce_pair()[1], aud=f"{live_server.url}/fhir/")
    assert authorize(live_server, params).status_code == 302
    assert AuthorizationFlow.objects.count() == 1


@pytest.mark.parametrize("suffix", ["/fhir//", "/FHIR", "/fhir/Patient", "/fhir?x=1", ""])
def test_aud_must_be_our_fhir_base_exactly(live_server, make_client, suffix):
    client = make_client()
    params = authorize_params(client, pkce_pair()[1], aud=f"{live_server.url}{suffix}")
    response = authorize(live_server, params)
    assert query_of(response.headers["Location"])["error"] == "invalid_request"
    assert_nothing_started()


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "no-such-client"},
        {"client_id": None},
        {"redirect_uri": "http://127.0.0.1:9/evil"},
        {"redirect_uri": "http://127.0.0.1:9/callback/extra"},  # a prefix match is no match
        {"redirect_uri": "http://127.0.0.1:9/callbac"},
        {"redirect_uri": "http://127.0.0.1:9/callback?x=1"},
        # Exact string match: no normalisation of any kind (RFC 9700 §4.1.3).
        {"redirect_uri": "HTTP://127.0.0.1:9/callback"},
        {"redirect_uri": "http://127.0.0.1:9/Callback"},
        {"redirect_uri": "http://127.0.0.1:9/callback/"},
        {"redirect_uri": "http://127.0.0.1:9/callback#frag"},
        {"redirect_uri": "http://user@127.0.0.1:9/callback"},
        {"redirect_uri": "http://127.0.0.1:9@evil.example/callback"},
        {"redirect_uri": "http://127.0.0.1:09/callback"},
        {"redirect_uri": "http://127.0.0.1/callback"},
        {"redirect_uri": "http://127.0.0.1:9/%63allback"},
        {"redirect_uri": "http://127.0.0.1:9/callback%2F"},
        {"redirect_uri": "http://127.0.0.1:9/callback/../callback"},
        {"redirect_uri": " http://127.0.0.1:9/callback"},
    ],
)
def test_errors_before_the_redirect_uri_is_trusted_are_shown_to_the_patient(
    live_server, make_client, change
):
    client = make_client()
    response = authorize(live_server, authorize_params(client, pkce_pair()[1], **change))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "text/html" in response.headers["Content-Type"]
    assert_nothing_started()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        # An S256 challenge is exactly 43 base64url characters (RFC 7636 §4.2).
        ({"code_challenge": "A" * 44}, "invalid_request"),
        ({"code_challenge": "A" * 128}, "invalid_request"),
        ({"code_challenge": "A" * 42 + "~"}, "invalid_request"),
        ({"code_challenge": "A" * 42}, "invalid_request"),
        ({"aud": "https://other.example/fhir"}, "invalid_request"),
        ({"aud": None}, "invalid_request"),
        ({"scope": "launch/patient patient/*.write"}, "invalid_scope"),
        ({"scope": "launch/patient user/*.read"}, "invalid_scope"),
        ({"scope": "launch/patient"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_errors_after_the_redirect_uri_is_trusted_go_back_to_the_app(
    live_server, make_client, change, error
):
    client = make_client()
    params = authorize_params(client, pkce_pair()[1], **change)
    response = authorize(live_server, params)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(client.app.redirect_uris[0] + "?")
    query = query_of(location)
    assert query["error"] == error
    assert query["state"] == params["state"]
    assert_nothing_started()


def test_scope_outside_the_apps_allowed_scopes_is_invalid_scope(live_server, make_client):
    client = make_client(scopes="launch/patient patient/Coverage.read")
    params = authorize_params(client, pkce_pair()[1], scope="launch/patient patient/*.read")
    response = authorize(live_server, params)
    assert query_of(response.headers["Location"])["error"] == "invalid_scope"
    narrower = authorize_params(client, pkce_pair()[1], scope="launch/patient patient/Coverage.rs")
    assert authorize(live_server, narrower).status_code == 302
    assert AuthorizationFlow.objects.count() == 1


def test_authorize_also_accepts_a_form_post(live_server, make_client):
    client = make_client()
    response = requests.post(
        f"{live_server.url}/oauth/authorize",
        data=authorize_params(client, pkce_pair()[1]),
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302 and "/consent/" in response.headers["Location"]
