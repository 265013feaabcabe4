"""Outside clients work unchanged (issue 12): OIDC discovery, public refresh, redirect URIs,
`external_id`. Browser CORS is in test_cors.py."""

from __future__ import annotations

import secrets

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from consent import flow as flows
from consent.models import App, AuthorizationFlow, Consent
from tests.consent.conftest import authorize_params, pkce_pair, query_of
from tests.consent.test_token import app_token, exchange, introspect, token_request


def test_openid_configuration_is_published_and_agrees_with_the_others(live_server):
    base = live_server.url
    oidc = requests.get(f"{base}/.well-known/openid-configuration", timeout=10)
    assert oidc.status_code == 200
    doc = oidc.json()
    for field in (
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "id_token_signing_alg_values_supported",
        "subject_types_supported",
        "response_types_supported",
        "scopes_supported",
        "claims_supported",
        "code_challenge_methods_supported",
    ):
        assert doc.get(field), field
    assert doc["issuer"] == base and "openid" in doc["scopes_supported"]
    assert {"sub", "fhirUser", "nonce"} <= set(doc["claims_supported"])
    rfc8414 = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
    smart = requests.get(f"{base}/fhir/.well-known/smart-configuration", timeout=10).json()
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert doc[key] == rfc8414[key] == smart[key]


def test_an_oidc_client_discovers_exchanges_and_validates_the_id_token(
    live_server, make_client, issue_code
):
    """authlib's OAuth2 client, discovery by the OIDC well-known URL, id_token checked."""
    client = make_client(public=True)
    nonce = secrets.token_urlsafe(16)
    issued = issue_code(client, nonce=nonce)
    meta = requests.get(f"{live_server.url}/.well-known/openid-configuration", timeout=10).json()
    session = OAuth2Session(
        client.client_id,
        token_endpoint_auth_method="none",
        redirect_uri=issued.redirect_uri,
        code_challenge_method="S256",
    )
    token = session.fetch_token(
        meta["token_endpoint"], code=issued.code, code_verifier=issued.verifier
    )
    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    claims = jwt.decode(
        token["id_token"],
        keys,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": meta["issuer"]}},
        claims_params={"nonce": nonce, "client_id": client.client_id},
    )
    claims.validate()
    assert claims["aud"] == client.client_id and claims["nonce"] == nonce
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]


def test_public_client_refreshes_with_only_grant_type_and_refresh_token(
    live_server, make_client, issue_code
):
    client = make_client(public=True)
    body = exchange(live_server, client, issue_code(client)).json()
    data = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    refreshed = requests.post(f"{live_server.url}/oauth/token", data=data, timeout=10)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["consent_id"] == body["consent_id"]


def test_confidential_client_must_still_authenticate_to_refresh(
    live_server, make_client, issue_code
):
    client = make_client()
    body = exchange(live_server, client, issue_code(client)).json()
    data = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    refused = requests.post(f"{live_server.url}/oauth/token", data=data, timeout=10)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    # Unharmed: the rightful client still refreshes with it.
    assert token_request(live_server, client, data).status_code == 200


def allowed_at_review(live_server, client, db_payer, **params) -> tuple[str, flows.Decision]:
    """The real /oauth/authorize and payer choice; the payer's sign-in is skipped; Allow.

    Returns the PKCE verifier and the decision (the redirect to the app with our code).
    """
    verifier, challenge = pkce_pair()
    query = authorize_params(client, challenge, **params)
    response = requests.get(
        f"{live_server.url}/oauth/authorize", params=query, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302, response.text
    flow = AuthorizationFlow.objects.get(app=client.app)
    payer = db_payer()
    payer.authorize_url = "http://localhost:9/authorize"
    payer.save()
    flows.choose_payer(flow, payer)
    Consent.objects.filter(pk=flow.consent_id).update(patient_id="pat-9")
    AuthorizationFlow.objects.filter(pk=flow.pk).update(step=AuthorizationFlow.Step.REVIEW)
    flow.refresh_from_db()
    return verifier, flows.decide(flow, allow=True)


def test_redirect_uri_omitted_at_authorize_may_be_omitted_at_token(
    live_server, make_client, db_payer
):
    """RFC 6749 §4.1.3: redirect_uri is required at the token endpoint only if it was sent."""
    client = make_client()
    verifier, decision = allowed_at_review(live_server, client, db_payer, redirect_uri=None)
    assert decision.redirect_to.startswith(client.app.redirect_uris[0] + "?")
    data = {
        "grant_type": "authorization_code",
        "code": query_of(decision.redirect_to)["code"],
        "code_verifier": verifier,
    }
    response = token_request(live_server, client, data)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "uri",
    ['https://app.example/cb?x="y"', "https://app.example/cb\\x", "https://app.example/é"],
)
def test_createapp_and_admin_refuse_redirect_uris_authorize_would_refuse(db, uri):
    with pytest.raises(CommandError):
        call_command("createapp", "--name", "Bad", "--redirect-uri", uri, "--json")
    app = App(name="Bad", client_id="bad", redirect_uris=[uri])
    with pytest.raises(ValidationError):
        app.clean()


def test_external_id_is_kept_and_returned(live_server, make_client, db_payer):
    client = make_client()
    external_id = "user 42 / émile"
    verifier, decision = allowed_at_review(live_server, client, db_payer, external_id=external_id)
    assert decision.consent.external_id == external_id
    listed = requests.get(
        f"{live_server.url}/api/consents",
        headers={"Authorization": f"Bearer {app_token(live_server, client)}"},
        timeout=10,
    ).json()["consents"]
    assert listed[0]["external_id"] == external_id
    data = {
        "grant_type": "authorization_code",
        "code": query_of(decision.redirect_to)["code"],
        "code_verifier": verifier,
        "redirect_uri": client.app.redirect_uris[0],
    }
    body = token_request(live_server, client, data).json()
    assert introspect(live_server, client, body["access_token"])["external_id"] == external_id


@pytest.mark.parametrize("external_id", ["x" * 256, "tab\there"])
def test_bad_external_id_is_refused_back_to_the_app(live_server, make_client, external_id):
    client = make_client()
    query = authorize_params(client, pkce_pair()[1], external_id=external_id)
    response = requests.get(
        f"{live_server.url}/oauth/authorize", params=query, allow_redirects=False, timeout=10
    )
    location = response.headers.get("Location", "")
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert query_of(location)["error"] == "invalid_request"
    assert not Consent.objects.exists()
